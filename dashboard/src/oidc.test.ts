import { describe, expect, it } from "vitest";
import { jwtClaims, pkceChallenge } from "./oidc";

describe("OIDC sign-in helpers", () => {
  it("derives the S256 PKCE challenge (checked against Python's hashlib)", async () => {
    expect(await pkceChallenge("dBjftJeZ4CVP-mJ92IxeNBEKbq7uW8NpI8nqRNuHbpc")).toBe("iAXR7ObNuRSN3I58G3pEs9HxRs4xZqhmhTLWgbl58nE");
  });

  it("reads a token's claims, base64url and UTF-8 included", () => {
    const jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiAiYTEiLCAibmFtZSI6ICJab8OrIE3DvGxsZXIifQ.";
    expect(jwtClaims(jwt)).toEqual({ sub: "a1", name: "Zoë Müller" });
  });
});
