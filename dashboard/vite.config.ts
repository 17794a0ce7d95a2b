// Builds the dashboard into dist/, which `clinic-local up` serves at / on the API's port.
// `npm run dev` proxies the API to a running local stack (DASHBOARD_API, default :8080).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const api = process.env.DASHBOARD_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", proxy: { "/api": api, "/_local": api } },
  // Recharts (with its Redux store) is most of the ~740 kB bundle (~215 kB gzipped): one
  // back-office app, loaded once and cached, so one chunk is fine.
  build: { chunkSizeWarningLimit: 800 },
  test: { include: ["src/**/*.test.ts"] },
});
