// Sign-in against an OpenID Connect provider (the cloud's Cognito user pool, or any IdP the
// API's JWT authorizer trusts): authorization code flow with PKCE, as a public client (no
// secret in the browser). The provider must list `<dashboard origin>/` as a callback URL.

import type { AuthConfig } from "./config";

type OidcConfig = Extract<AuthConfig, { mode: "oidc" }>;

const PENDING_KEY = "clinic.oidc.pending";

export interface OidcTokens {
  accessToken: string;
  expiresAt: number;
  /** The signed-in person's claims (from the ID token when there is one). */
  claims: Record<string, unknown>;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const response = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`The identity provider's discovery document: HTTP ${response.status}`);
  return response.json();
}

const base64Url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** RFC 7636 S256: BASE64URL(SHA-256(verifier)). */
export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** The claims of a JWT, unverified: only for showing who signed in; the API verifies. */
export function jwtClaims(jwt: string): Record<string, unknown> {
  const payload = jwt.split(".")[1] ?? "";
  const text = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
}

const redirectUri = () => `${window.location.origin}/`;

/** Sends the browser to the provider's sign-in page. */
export async function beginOidcSignIn(config: OidcConfig): Promise<void> {
  const { authorization_endpoint } = await discover(config.issuer);
  const verifier = base64Url(crypto.getRandomValues(new Uint8Array(48)));
  const state = base64Url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: config.scope ?? "openid profile email",
    state,
    code_challenge: await pkceChallenge(verifier),
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.toString());
}

/** On the provider's redirect back (`?code=&state=`), trades the code for tokens; otherwise
 * returns null. */
export async function completeOidcSignIn(config: OidcConfig): Promise<OidcTokens | null> {
  const params = new URLSearchParams(window.location.search);
  const code = params.get("code");
  if (!code) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "null");
  sessionStorage.removeItem(PENDING_KEY);
  window.history.replaceState(null, "", "/");
  if (!pending || pending.state !== params.get("state")) throw new Error("Sign-in was not started here; try again.");
  const { token_endpoint } = await discover(config.issuer);
  const response = await fetch(token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: config.clientId,
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new Error(`The identity provider refused the sign-in: HTTP ${response.status}`);
  const tokens = await response.json();
  return {
    accessToken: tokens.access_token,
    expiresAt: Date.now() + Number(tokens.expires_in ?? 3600) * 1000,
    claims: jwtClaims(tokens.id_token ?? tokens.access_token),
  };
}
