// Playwright drives Debian's Chromium (/usr/bin/chromium) against Minitalk: this machine cannot download
// Playwright's own browser builds, so `npx playwright install` is never used.
//
// By default it starts the debug server that `cargo leptos build` left in ../target, on its own port and
// with a fresh data directory, so a run never sees messages from an earlier one. Set MINITALK_E2E_URL to
// test a server that is already running instead.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { defineConfig } from "@playwright/test";

const externalUrl = process.env.MINITALK_E2E_URL;
const baseURL = externalUrl ?? "http://127.0.0.1:3400";

// Playwright loads this file in the runner and again in every worker; workers inherit the runner's
// environment, so the data directory is made once and shared instead of once per process.
function freshDataDir(): string {
  process.env.MINITALK_E2E_DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "minitalk-e2e-"));
  return process.env.MINITALK_E2E_DATA_DIR;
}

export default defineConfig({
  testDir: "./tests",
  outputDir: "test-results",
  reporter: "list",
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: !!process.env.CI,
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        browserName: "chromium",
        launchOptions: {
          executablePath: "/usr/bin/chromium",
          // The closed network refuses Chromium's background connections; these flags stop it trying.
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
  webServer: externalUrl
    ? undefined
    : {
        // The suite signs many people up from one address and one person creates many rooms; those
        // limits are tested in Rust (server/tests/hostile.rs).
        command: `../target/debug/minitalk --addr 127.0.0.1:3400 --data-dir ${freshDataDir()} --sign-ins-per-ip-per-min 600 --room-creations-per-hour 0`,
        cwd: __dirname,
        env: {
          LEPTOS_SITE_ROOT: "../target/site",
          LEPTOS_SITE_PKG_DIR: "pkg",
          RUST_LOG: "info",
        },
        url: baseURL,
        reuseExistingServer: false,
        timeout: 120_000,
        stdout: "pipe",
        stderr: "pipe",
        // Stop the server the way an operator would, so its shutdown path runs too.
        gracefulShutdown: { signal: "SIGTERM", timeout: 10_000 },
      },
});
