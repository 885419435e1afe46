// The home page as a person first sees it: server-rendered, then brought to life by the WASM bundle.
import * as path from "node:path";
import { expect, test, type Page } from "@playwright/test";

const SCREENS = path.join(__dirname, "..", "test-results", "screens");

/** Records every console error or warning and every uncaught page error from now on. */
function collectProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") {
      const at = msg.location().url;
      problems.push(`console.${msg.type()}: ${msg.text()}${at ? ` (${at})` : ""}`);
    }
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  return problems;
}

test("the home page hydrates", async ({ page }) => {
  const problems = collectProblems(page);

  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Minitalk", exact: true })).toBeVisible();

  // The server-rendered button does nothing; only the hydrated WASM counts clicks. A click that lands
  // before hydration finishes is lost, so click again only while the count is still 0: once hydrated,
  // the click updates the text synchronously, so this can never count past 1.
  const button = page.getByRole("button", { name: /Hydration check/ });
  await expect(async () => {
    if ((await button.textContent())?.includes("clicked 0")) {
      await button.click();
    }
    await expect(button, "only the hydrated page counts clicks").toContainText("clicked 1", {
      timeout: 1_000,
    });
  }).toPass({ timeout: 30_000 });

  await page.screenshot({ path: path.join(SCREENS, "home.png"), fullPage: true });
  expect(problems, "console errors/warnings and page errors").toEqual([]);
});
