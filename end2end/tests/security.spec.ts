// What a hostile name or page cannot do in the browser: markup in a room name stays text in the tab title, and
// every page runs under the Content-Security-Policy with no violation.
import * as path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { SCREENS, collectProblems, createRoom, gotoHydrated, person, unique } from "./helpers";

test("a room name with markup stays text in the server-rendered title", async ({ browser }) => {
  const { context, page } = await person(browser, "mal");
  const problems = collectProblems(page);
  const name = `</title><script>alert(1)</script> ${unique("x")}`;
  const id = await createRoom(page, name);

  const dialogs: string[] = [];
  page.on("dialog", async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  // A direct load: the page comes from the server's HTML, not from client-side navigation.
  await gotoHydrated(page, `/rooms/${id}`);
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  await expect(page).toHaveTitle(`${name} · Minitalk`);
  // The sidebar shows the name as text too.
  await expect(page.getByRole("navigation", { name: "Rooms and conversations" }).getByRole("link", { name })).toBeVisible();
  expect(dialogs, "no script ran from the room name").toEqual([]);
  await page.screenshot({ path: path.join(SCREENS, "room-markup-name.png"), fullPage: true });
  expect(problems, "console errors/warnings and page errors").toEqual([]);
  await context.close();
});

/** Records every Content-Security-Policy violation the page reports, from the first script on. */
async function recordViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __cspViolations: string[] }).__cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (e) =>
      seen.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`),
    );
  });
  return () => page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
}

test("every page hydrates under the Content-Security-Policy with no violation", async ({ browser }) => {
  const { context, page } = await person(browser, "csp");
  const violations = await recordViolations(page);
  const problems = collectProblems(page);
  const id = await createRoom(page, unique("Policy "));

  for (const url of ["/", "/login", `/rooms/${id}`, "/stats"]) {
    const response = await page.goto(url);
    const policy = response?.headers()["content-security-policy"] ?? "";
    expect(policy, `${url} has a nonce policy`).toContain("'nonce-");
    expect(policy).not.toContain("unsafe-inline");
    await gotoHydrated(page, url);
    expect(await violations(), `CSP violations on ${url}`).toEqual([]);
  }
  // The live socket works under `connect-src 'self'`.
  await gotoHydrated(page, `/rooms/${id}`);
  await expect(page.getByRole("status")).toHaveText("connected", { timeout: 15_000 });
  expect(await violations()).toEqual([]);
  expect(problems, "console errors/warnings and page errors").toEqual([]);
  await context.close();
});
