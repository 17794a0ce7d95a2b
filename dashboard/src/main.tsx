// Entry point: read config.json, then render the app for the signed-in agent.

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { SignedIn } from "./auth";
import { loadConfig } from "./config";
import { REFRESH_MS } from "./queries";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: { queries: { refetchInterval: REFRESH_MS, staleTime: 5_000, retry: 1 } },
});

const root = createRoot(document.getElementById("root")!);

loadConfig()
  .then((config) =>
    root.render(
      <StrictMode>
        <QueryClientProvider client={queryClient}>
          <SignedIn config={config}>
            <App />
          </SignedIn>
        </QueryClientProvider>
      </StrictMode>,
    ),
  )
  .catch((error: Error) =>
    root.render(
      <div className="banner banner-error" role="alert">
        The dashboard could not start: {error.message}
      </div>,
    ),
  );
