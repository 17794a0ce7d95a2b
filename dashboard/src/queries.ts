// The queries more than one screen uses. Keys start with the agent, so a second agent in the
// same tab never sees the first one's cached data.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import type { Clinic, Metrics } from "./api";
import { useAuth } from "./auth";
import { todayRange } from "./metrics";

/** Auto-refresh period for every live panel: 15 s, so an agent on the phone sees numbers at
 * most that old without asking for them. */
export const REFRESH_MS = 15_000;

export function useClinics() {
  const { api, session } = useAuth();
  return useQuery({
    queryKey: [session.agentId, "clinics"],
    queryFn: () => api.get<Clinic[]>("/api/v1/clinics"),
    staleTime: 5 * 60_000,
  });
}

/** Today's metrics in `timeZone`, for one clinic or (clinicId "") all of the agent's. */
export function useMetrics(clinicId: string, timeZone: string) {
  const { api, session } = useAuth();
  return useQuery({
    queryKey: [session.agentId, "metrics", clinicId, timeZone],
    queryFn: () => api.get<Metrics>("/api/v1/metrics", { clinicId, ...todayRange(new Date(), timeZone) }),
  });
}

/** After any change: the lists and numbers that may show it refresh now, not at the next tick. */
export function useRefreshAfterChange(): () => Promise<void> {
  const queryClient = useQueryClient();
  const { session } = useAuth();
  const agentId = session.agentId;
  return useCallback(
    () => queryClient.invalidateQueries({ predicate: (q) => q.queryKey[0] === agentId && q.queryKey[1] !== "clinics" }),
    [queryClient, agentId],
  );
}
