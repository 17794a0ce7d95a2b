// Who is signed in, and the API client that sends their bearer token. The session lives in
// sessionStorage (one tab, gone when it closes). Sign-in depends on config.json: the local
// stack's demo agents (`/_local/auth`), or the OpenID Connect provider in the cloud.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { apiClient, type Agent, type ApiClient, type TokenResponse } from "./api";
import type { RuntimeConfig } from "./config";
import { beginOidcSignIn, completeOidcSignIn } from "./oidc";
import { Banner, ErrorNote, Loading } from "./ui";

export interface Session {
  token: string;
  expiresAt: number;
  agentId: string;
  name: string;
  role: string | null;
}

const SESSION_KEY = "clinic.session";

function storedSession(): Session | null {
  const session: Session | null = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
  return session && session.expiresAt > Date.now() ? session : null;
}

interface Auth {
  session: Session;
  api: ApiClient;
  signOut: () => void;
}

const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside <SignedIn>");
  return auth;
}

/** Renders `children` for a signed-in agent, or the sign-in screen. */
export function SignedIn({ config, children }: { config: RuntimeConfig; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [session, setSession] = useState<Session | null>(storedSession);
  const [notice, setNotice] = useState<string | null>(null);
  const start = useCallback((next: Session) => {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
    setNotice(null);
    setSession(next);
  }, []);
  const end = useCallback(
    (why: string | null) => {
      sessionStorage.removeItem(SESSION_KEY);
      queryClient.clear();
      setNotice(why);
      setSession(null);
    },
    [queryClient],
  );
  const auth = useMemo<Auth | null>(
    () =>
      session && {
        session,
        api: apiClient(config.apiBaseUrl, () => session.token, () => end("Your session has expired; please sign in again.")),
        signOut: () => end(null),
      },
    [session, config.apiBaseUrl, end],
  );
  if (!auth) {
    return (
      <main className="signin">
        <h1>Call center · Scheduling</h1>
        {notice && <Banner kind="info">{notice}</Banner>}
        {config.auth.mode === "local" ? <LocalSignIn config={config} onSignedIn={start} /> : <OidcSignIn config={config} onSignedIn={start} />}
      </main>
    );
  }
  return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
}

type SignInProps = { config: RuntimeConfig; onSignedIn: (session: Session) => void };

/** The local stack's sign-in: pick one of the demo agents; the stack issues their token. */
function LocalSignIn({ config, onSignedIn }: SignInProps) {
  // The local stack's guard refuses a sign-in without this header (no other site can send it).
  const anonymous = useMemo(
    () => apiClient(config.apiBaseUrl, () => null, () => {}, { "x-clinic-local": "1" }),
    [config.apiBaseUrl],
  );
  const agents = useQuery({ queryKey: ["local-agents"], queryFn: () => anonymous.get<Agent[]>("/_local/auth/agents") });
  const [error, setError] = useState<unknown>(null);
  const signIn = async (agent: Agent) => {
    try {
      const token = await anonymous.post<TokenResponse>("/_local/auth/token", { agentId: agent.agentId });
      onSignedIn({
        token: token.accessToken,
        expiresAt: Date.now() + token.expiresIn * 1000,
        agentId: token.agent.agentId,
        name: token.agent.name,
        role: token.agent.role,
      });
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="card">
      <h2>Sign in as</h2>
      <p className="muted">Local stack: pick a demo agent. Each sees only the clinics they work for.</p>
      {agents.isPending && <Loading what="agents" />}
      {agents.isError && <ErrorNote error={agents.error} what="Local sign-in" />}
      {error !== null && <ErrorNote error={error} what="Sign-in" />}
      <ul className="agents">
        {agents.data?.map((agent) => (
          <li key={agent.agentId}>
            <button type="button" onClick={() => signIn(agent)}>
              <strong>{agent.name}</strong>
              <span className="muted">
                {agent.role === "SUPERVISOR" ? "Supervisor" : "Agent"} · {agent.clinicIds.length}{" "}
                {agent.clinicIds.length === 1 ? "clinic" : "clinics"}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The cloud's sign-in: off to the identity provider and back with a code. */
function OidcSignIn({ config, onSignedIn }: SignInProps) {
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (config.auth.mode !== "oidc") return;
    completeOidcSignIn(config.auth)
      .then((tokens) => {
        if (!tokens) return;
        const { claims } = tokens;
        const name = claims.name ?? claims.email ?? claims["cognito:username"] ?? claims.sub;
        onSignedIn({
          token: tokens.accessToken,
          expiresAt: tokens.expiresAt,
          agentId: String(claims.sub),
          name: String(name),
          role: typeof claims.role === "string" ? claims.role : null,
        });
      })
      .catch(setError);
  }, [config, onSignedIn]);
  const auth = config.auth;
  return (
    <section className="card">
      {error !== null && <ErrorNote error={error} what="Sign-in" />}
      {auth.mode === "oidc" && (
        <button type="button" className="primary" onClick={() => beginOidcSignIn(auth).catch(setError)}>
          Sign in
        </button>
      )}
    </section>
  );
}
