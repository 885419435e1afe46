// The browser benchmark (end2end/bench/): not part of `npx playwright test` (whose testDir is ./tests).
// Run it with `scripts/bench.sh browser` or `cd end2end && npx playwright test -c bench/playwright.bench.config.ts`.
//
// Like the test config it starts the server that `cargo leptos build` left in ../target/debug, on its own port
// and a fresh data directory; MINITALK_BENCH_SERVER names another binary (scripts/bench.sh browser uses the
// release build) and MINITALK_BENCH_SITE its site directory, MINITALK_BENCH_URL a server already running. The sender posts far above the default
// per-user rate limit, so the limit is lifted here.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { defineConfig } from "@playwright/test";
import base from "../playwright.config";

const externalUrl = process.env.MINITALK_BENCH_URL;
const baseURL = externalUrl ?? "http://127.0.0.1:3401";
const server = process.env.MINITALK_BENCH_SERVER ?? "../target/debug/minitalk";
const siteRoot = process.env.MINITALK_BENCH_SITE ?? "../target/site";

function freshDataDir(): string {
  process.env.MINITALK_BENCH_DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "minitalk-bench-"));
  return process.env.MINITALK_BENCH_DATA_DIR;
}

export default defineConfig({
  ...base,
  testDir: ".",
  testMatch: "**/*.bench.ts",
  outputDir: "../test-results/bench",
  timeout: 600_000,
  use: { ...base.use, baseURL, trace: "off", screenshot: "off" },
  webServer: externalUrl
    ? undefined
    : {
        command: `${server} --addr 127.0.0.1:3401 --data-dir ${freshDataDir()} --sign-ins-per-ip-per-min 600 --room-creations-per-hour 0 --rate-limit 100000 --rate-burst 100000`,
        cwd: path.join(__dirname, ".."),
        env: { LEPTOS_SITE_ROOT: siteRoot, LEPTOS_SITE_PKG_DIR: "pkg", RUST_LOG: "warn" },
        url: baseURL,
        reuseExistingServer: false,
        timeout: 120_000,
        stdout: "pipe",
        stderr: "pipe",
        gracefulShutdown: { signal: "SIGTERM", timeout: 10_000 },
      },
});
