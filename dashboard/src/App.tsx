// The signed-in shell: header with navigation and the agent, the phone-call bar, the API
// health banner, and the screen for the current path.

import { useQuery } from "@tanstack/react-query";
import { AppointmentDetail } from "./AppointmentDetail";
import { useAuth } from "./auth";
import { BookAppointment } from "./BookAppointment";
import { CallsProvider } from "./calls";
import { Overview } from "./Overview";
import { REFRESH_MS } from "./queries";
import { Link, usePath } from "./router";
import { Banner } from "./ui";

export function App() {
  const { session, signOut } = useAuth();
  const path = usePath();
  const detail = path.match(/^\/appointments\/([0-9a-fA-F-]{36})$/);
  return (
    <>
      <header className="topbar">
        <strong className="brand">Call center · Scheduling</strong>
        <nav>
          <Link to="/" aria-current={path === "/" ? "page" : undefined}>
            Overview
          </Link>
          <Link to="/book" aria-current={path === "/book" ? "page" : undefined}>
            Book an appointment
          </Link>
        </nav>
        <span className="who">
          <span data-testid="agent-name">{session.name}</span>
          {session.role && <span className="muted"> · {session.role === "SUPERVISOR" ? "Supervisor" : "Agent"}</span>}{" "}
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        <HealthBanner />
        <CallsProvider>
          {path === "/" ? (
            <Overview />
          ) : path === "/book" ? (
            <BookAppointment />
          ) : detail ? (
            <AppointmentDetail key={detail[1]} id={detail[1]} />
          ) : (
            <Banner kind="info">
              Nothing here. <Link to="/">Back to the overview</Link>
            </Banner>
          )}
        </CallsProvider>
      </main>
    </>
  );
}

/** One banner for "the API is down", whatever screen is open; it clears when the API is back. */
function HealthBanner() {
  const { api } = useAuth();
  const health = useQuery({ queryKey: ["health"], queryFn: () => api.get("/api/v1/health"), retry: false });
  if (!health.isError) return null;
  return (
    <Banner kind="error">
      <strong>The scheduling API is not answering</strong> ({health.error.message}). Showing the last data received;
      retrying every {REFRESH_MS / 1000} s.
    </Banner>
  );
}
