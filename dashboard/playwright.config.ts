import { defineConfig } from "@playwright/test";

// Runs against a running local cloud (tests/e2e/test_dashboard.py starts one and passes its
// URL), with the system Chromium: Playwright's own browser download is not used.
const baseURL = process.env.CRM_DASHBOARD_URL ?? "http://127.0.0.1:8765/app/";

export default defineConfig({
  testDir: "e2e",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    viewport: { width: 1280, height: 800 },
    trace: "retain-on-failure",
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
  },
});
