// The runtime settings, read from /config.json next to index.html, so one build serves the
// local stack and the cloud: the deployment writes its own config.json (see docs/deploy.md).

export interface RuntimeConfig {
  /** Prefix for API calls; empty when the API is on the dashboard's own origin. */
  apiBaseUrl: string;
  auth: AuthConfig;
}

export type AuthConfig =
  /** The local stack's sign-in: pick a demo agent at /_local/auth. */
  | { mode: "local" }
  /** An OpenID Connect provider (e.g. Cognito): authorization code flow with PKCE. */
  | { mode: "oidc"; issuer: string; clientId: string; scope?: string };

export async function loadConfig(): Promise<RuntimeConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = (await response.json()) as RuntimeConfig;
  if (config.auth?.mode !== "local" && config.auth?.mode !== "oidc") {
    throw new Error(`config.json: auth.mode must be "local" or "oidc"`);
  }
  return { ...config, apiBaseUrl: config.apiBaseUrl ?? "" };
}
