// Shared steps for the browser tests: what a person does (sign up, open a room, write), found by role and
// name the way assistive technology finds them.
import * as path from "node:path";
import { expect, type Browser, type BrowserContext, type Locator, type Page } from "@playwright/test";

export const SCREENS = path.join(__dirname, "..", "test-results", "screens");
export const PASSWORD = "correct horse battery";

/** A name no other test (or earlier run against the same server) uses: `prefix` + time + randomness. */
export function unique(prefix: string): string {
  const stamp = Date.now().toString(36);
  const salt = Math.floor(Math.random() * 36 ** 4).toString(36);
  return `${prefix}${stamp}${salt}`.slice(0, 32);
}

/** Records every console error or warning and every uncaught page error from now on. */
export function collectProblems(page: Page): string[] {
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

/** Waits until the WASM bundle has hydrated the page (the app marks `<html data-hydrated>`). */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("html[data-hydrated]")).toBeAttached({ timeout: 30_000 });
}

export async function gotoHydrated(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await hydrated(page);
}

/** Creates an account through the sign-in page and lands on the rooms page. */
export async function signUp(page: Page, username: string): Promise<void> {
  await gotoHydrated(page, "/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Your rooms" })).toBeVisible();
}

/** A signed-up person in their own browser context. */
export async function person(browser: Browser, prefix: string): Promise<{ context: BrowserContext; page: Page; name: string }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const name = unique(prefix);
  await signUp(page, name);
  return { context, page, name };
}

/** Creates a room from the rooms page; ends inside it, live. Returns the room's id. */
export async function createRoom(page: Page, name: string): Promise<number> {
  await page.getByLabel("Room name").fill(name);
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/rooms\/\d+$/);
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  await expectLive(page);
  return Number(new URL(page.url()).pathname.split("/").pop());
}

/** Finds a room in the directory on the rooms page and joins it; ends inside it, live. */
export async function joinRoom(page: Page, name: string): Promise<void> {
  await gotoHydrated(page, "/");
  await page.getByLabel("Search rooms by name").fill(name);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByRole("button", { name: `Join ${name}` }).click();
  await expect(page).toHaveURL(/\/rooms\/\d+$/);
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  await expectLive(page);
}

/** Opens a room by its address and joins it with the page's "Join room" button; ends inside it, live. */
export async function joinAt(page: Page, roomId: number): Promise<void> {
  await gotoHydrated(page, `/rooms/${roomId}`);
  await page.getByRole("button", { name: "Join room" }).click();
  await expectLive(page);
}

export async function expectLive(page: Page): Promise<void> {
  await expect(page.getByRole("status")).toHaveText("connected", { timeout: 15_000 });
  await expect(page.getByRole("textbox", { name: "Message" })).toBeEnabled();
  await expect(page.getByRole("button", { name: "Send" })).toBeEnabled();
}

export function messageLog(page: Page): Locator {
  return page.getByRole("log", { name: "Messages" });
}

export function messageItems(page: Page): Locator {
  return messageLog(page).getByRole("listitem");
}

/** Writes a message in the composer and sends it with Enter. */
export async function say(page: Page, text: string): Promise<void> {
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.fill(text);
  await composer.press("Enter");
  await expect(composer).toHaveValue("");
}

/** The seqs of the shown (stored) messages, in page order. */
export async function shownSeqs(page: Page): Promise<number[]> {
  const seqs = await messageLog(page).locator("li[data-seq]").evaluateAll((items) =>
    items.map((li) => Number(li.getAttribute("data-seq"))),
  );
  return seqs;
}

/**
 * Stores `count` messages "<prefix> 1" … "<prefix> count" in a room fast: a WebSocket opened inside the page
 * (so it carries the session cookie) sends them as `send` frames, resending any that were rate limited after
 * the server's `retry_after_ms`, and resolves once every one is acknowledged.
 */
export async function seedMessages(page: Page, roomId: number, count: number, prefix: string): Promise<void> {
  await page.evaluate(
    async ({ roomId, count, prefix }) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const frameFor = (i: number) =>
        JSON.stringify({ type: "send", room_id: roomId, client_id: `seed-${prefix}-${i}`, content: `${prefix} ${i}` });
      const acked = new Set<number>();
      await new Promise<void>((resolve, reject) => {
        ws.onmessage = (event) => {
          const frame = JSON.parse(event.data);
          const i = Number(String(frame.client_id ?? "").split("-").pop());
          if (frame.type === "ack") {
            acked.add(i);
            if (acked.size === count) resolve();
          } else if (frame.type === "error" && frame.retry_after_ms !== undefined) {
            setTimeout(() => ws.send(frameFor(i)), frame.retry_after_ms);
          } else if (frame.type === "error") {
            reject(new Error(`seeding failed: ${event.data}`));
          }
        };
        // In order, one at a time per event-loop turn: the server stores them in the order it reads them.
        for (let i = 1; i <= count; i++) ws.send(frameFor(i));
      });
      ws.close();
    },
    { roomId, count, prefix },
  );
}
