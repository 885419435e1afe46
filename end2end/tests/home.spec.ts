// The first visit as a person makes it: server-rendered pages brought to life by the WASM bundle, with
// nothing in the console on any of them. Also saves a screenshot of each main page.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { collectProblems, createRoom, gotoHydrated, hydrated, PASSWORD, say, SCREENS, unique } from "./helpers";

test("a visitor signs up and every page hydrates with zero console errors", async ({ page }) => {
  const problems = collectProblems(page);

  // Signed out, the rooms page sends you to sign in.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Minitalk", exact: true })).toBeVisible();

  // The buttons are disabled in the server's HTML and enabled by the hydrated WASM: proof of hydration.
  const create = page.getByRole("button", { name: "Create account" });
  await expect(create).toBeEnabled({ timeout: 30_000 });
  await page.screenshot({ path: path.join(SCREENS, "login.png"), fullPage: true });

  // Only the hydrated page can send the form as JSON; a dead page would put it in the URL instead.
  const name = unique("eve");
  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await create.click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Your rooms" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Minitalk" })).toBeVisible();
  await expect(page.getByText(name, { exact: true })).toBeVisible();
  await expect(page.getByRole("status")).toHaveText("connected");

  const room = unique("Hall ");
  await createRoom(page, room);
  await say(page, "Happy new year, everyone! 🎆");
  await say(page, "A line\nand another line, with a verylongwordthatmustwrapinsteadofoverflowingthechatcolumn".repeat(2));
  await expect(page.getByRole("listitem").filter({ hasText: "Happy new year" })).toBeVisible();
  await expect(page.getByText("pending")).toHaveCount(0);
  await page.screenshot({ path: path.join(SCREENS, "room.png"), fullPage: true });

  // A fresh load of the rooms page and of the room: the first render must match the server's HTML.
  await gotoHydrated(page, "/");
  await expect(page.getByRole("main").getByRole("link", { name: room })).toBeVisible();
  await page.screenshot({ path: path.join(SCREENS, "rooms.png"), fullPage: true });
  await page.getByRole("main").getByRole("link", { name: room }).click();
  await expect(page.getByRole("heading", { level: 1, name: room })).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("listitem").filter({ hasText: "Happy new year" })).toBeVisible();

  await gotoHydrated(page, "/stats");
  await expect(page.getByRole("group", { name: "Messages processed" })).toBeVisible();
  await page.screenshot({ path: path.join(SCREENS, "stats.png"), fullPage: true });

  expect(problems, "console errors/warnings and page errors").toEqual([]);
});

test("pages look right in dark mode and on a phone", async ({ browser }) => {
  const context = await browser.newContext({ colorScheme: "dark", viewport: { width: 390, height: 780 } });
  const page = await context.newPage();
  const problems = collectProblems(page);
  await gotoHydrated(page, "/login");
  await page.getByLabel("Username").fill(unique("dora"));
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await createRoom(page, unique("Night "));
  await say(page, "Dark mode, small screen.");
  await expect(page.getByText("pending")).toHaveCount(0);
  await page.screenshot({ path: path.join(SCREENS, "room-dark-phone.png"), fullPage: true });
  await gotoHydrated(page, "/");
  await page.screenshot({ path: path.join(SCREENS, "rooms-dark-phone.png"), fullPage: true });
  expect(problems).toEqual([]);
  await context.close();
});

test("wrong credentials are explained next to the form", async ({ page }) => {
  await gotoHydrated(page, "/login");
  await page.getByLabel("Username").fill(unique("nobody"));
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "invalid credentials" })).toBeVisible();

  await page.getByLabel("Username").fill("x");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "username must be 3 to 32 characters" })).toBeVisible();
  await expect(page).toHaveURL(/\/login$/);
});

test("signing out ends the session; signed-in visitors skip the sign-in page", async ({ page }) => {
  const name = unique("sam");
  await gotoHydrated(page, "/login");
  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);

  await page.goto("/login");
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);

  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);

  // Signing in again with the same account works.
  await hydrated(page);
  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText(name, { exact: true })).toBeVisible();
});
