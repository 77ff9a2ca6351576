/// <reference types="vitest/config" />
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The local cloud serves the API at its root (/leads, /auth/login, ...), the WebSocket at /ws
// and this app under /app/. The dev server proxies every API path (the first segments of the
// OpenAPI document's paths) and /ws to it, so the app calls the same relative URLs in dev and
// when served by the gateway or CloudFront.
const target = process.env.CRM_API_URL ?? "http://127.0.0.1:8765";
const openapi = JSON.parse(
  readFileSync(new URL("../functions/api_docs/openapi.json", import.meta.url), "utf-8"),
) as { paths: Record<string, unknown> };
const prefixes = new Set(Object.keys(openapi.paths).map((path) => "/" + path.split("/")[1]));
const proxy: Record<string, { target: string; ws?: boolean; changeOrigin: boolean }> = {};
for (const prefix of prefixes) proxy[prefix] = { target, changeOrigin: true };
proxy["/ws"] = { target, ws: true, changeOrigin: true };

export default defineConfig({
  base: "/app/",
  plugins: [react()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  server: { port: 5173, proxy },
  build: {
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 700,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    css: false,
  },
});
