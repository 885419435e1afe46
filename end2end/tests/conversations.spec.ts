// Private rooms, invitations, moderation and direct messages, as people use them.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, createRoom, expectLive, gotoHydrated, joinAt, joinRoom, messageItems, person, say, unique } from "./helpers";

test("a private room is invisible to a third person until they are invited", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const cyd = await person(browser, "cyd");
  const room = unique("Plans ");
  await ana.page.getByLabel("Private (by invitation)").check();
  await createRoom(ana.page, room);
  await say(ana.page, "for invited eyes");

  // Not in cyd's directory, and its address tells her nothing.
  await gotoHydrated(cyd.page, "/");
  await cyd.page.getByLabel("Search rooms by name").fill(room);
  await cyd.page.getByRole("button", { name: "Search", exact: true }).click();
  await expect(cyd.page.getByText("No rooms found.")).toBeVisible();
  await gotoHydrated(cyd.page, ana.page.url());
  await expect(cyd.page.getByRole("heading", { name: "No such room" })).toBeVisible();
  await expect(cyd.page.getByText("for invited eyes")).toHaveCount(0);

  // Ana invites her from the member list.
  await ana.page.getByLabel("Invite someone").fill(cyd.name);
  await ana.page.getByRole("button", { name: "Invite", exact: true }).click();
  await expect(ana.page.getByRole("alert").filter({ hasText: /./ })).toHaveCount(0);
  await ana.page.screenshot({ path: path.join(SCREENS, "room-owner-members.png"), fullPage: true });

  await gotoHydrated(cyd.page, "/");
  await expect(cyd.page.getByRole("main").getByRole("heading", { name: "Invitations" })).toBeVisible();
  await cyd.page.screenshot({ path: path.join(SCREENS, "rooms-invitation.png"), fullPage: true });
  await cyd.page.getByRole("button", { name: `Accept the invitation to ${room}` }).click();
  await expect(cyd.page).toHaveURL(/\/rooms\/\d+$/);
  await expectLive(cyd.page);
  await expect(messageItems(cyd.page).filter({ hasText: "for invited eyes" })).toHaveCount(1);

  await ana.context.close();
  await cyd.context.close();
});

test("a kick is seen at once in the kicked person's open tab", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Hall ");
  await createRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await say(ben.page, "hello all");

  const members = ana.page.getByRole("complementary", { name: "Members" });
  await expect(members.getByText(ben.name)).toBeVisible();
  await members.getByRole("button", { name: `Remove ${ben.name}` }).click();

  await expect(ben.page.getByText(`${ana.name} removed you from this room.`)).toBeVisible();
  await expect(ben.page.getByRole("alert").filter({ hasText: "no longer a member of this room" })).toBeVisible();
  await expect(members.getByText(ben.name)).toHaveCount(0);
  await ben.page.screenshot({ path: path.join(SCREENS, "room-kicked.png"), fullPage: true });

  // Nothing said afterwards reaches the open tab.
  await say(ana.page, "after the kick");
  await expect(messageItems(ana.page).filter({ hasText: "after the kick" })).toHaveCount(1);
  await expect(ben.page.getByText("after the kick")).toHaveCount(0);

  await ana.context.close();
  await ben.context.close();
});

test("two people write to each other in a direct conversation", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");

  await ana.page.getByLabel("Message", { exact: true }).fill(ben.name);
  await ana.page.getByRole("button", { name: "Open conversation" }).click();
  await expect(ana.page).toHaveURL(/\/rooms\/\d+$/);
  await expect(ana.page.getByRole("heading", { level: 1, name: ben.name })).toBeVisible();
  await expectLive(ana.page);
  await expect(ana.page.getByLabel("Invite someone")).toHaveCount(0);
  await say(ana.page, "just between us");

  await gotoHydrated(ben.page, "/");
  const direct = ben.page.getByRole("region", { name: "Direct messages" });
  await ben.page.screenshot({ path: path.join(SCREENS, "rooms-direct.png"), fullPage: true });
  await direct.getByRole("link", { name: ana.name }).click();
  await expectLive(ben.page);
  await expect(messageItems(ben.page).filter({ hasText: "just between us" })).toHaveCount(1);
  await say(ben.page, "and back");
  await expect(messageItems(ana.page).filter({ hasText: "and back" })).toHaveCount(1);
  await ana.page.screenshot({ path: path.join(SCREENS, "room-direct.png"), fullPage: true });

  await ana.context.close();
  await ben.context.close();
});

test("an owner renames a room and sets its topic; a member sees both live, and cannot edit them", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const before = unique("Hall ");
  const after = unique("Friday ");
  const roomId = await createRoom(ana.page, before);
  await joinAt(ben.page, roomId);
  await expect(ben.page.getByRole("button", { name: "Edit name and topic" })).toHaveCount(0);

  await ana.page.getByRole("button", { name: "Edit name and topic" }).click();
  const form = ana.page.getByRole("form", { name: "Room name and topic" });
  await form.getByLabel("Name").fill(after);
  await form.getByLabel("Topic").fill("<b>plans</b> for friday");
  await ana.page.screenshot({ path: path.join(SCREENS, "room-edit-settings.png"), fullPage: true });
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toHaveCount(0);

  // Ben's open tab follows without a reload: heading, topic (as text), and his sidebar.
  await expect(ben.page.getByRole("heading", { level: 1, name: after })).toBeVisible();
  await expect(ben.page.locator(".topic")).toHaveText("<b>plans</b> for friday");
  const sidebar = ben.page.getByRole("navigation", { name: "Rooms and conversations" });
  await expect(sidebar.getByRole("link", { name: new RegExp(after) })).toBeVisible();
  await ben.page.screenshot({ path: path.join(SCREENS, "room-renamed.png"), fullPage: true });
  // Still there after a reload.
  await gotoHydrated(ben.page, `/rooms/${roomId}`);
  await expect(ben.page.getByRole("heading", { level: 1, name: after })).toBeVisible();
  await expect(ben.page.locator(".topic")).toHaveText("<b>plans</b> for friday");

  await ana.context.close();
  await ben.context.close();
});

test("the owner deletes a room after typing its name; a member's open tab and sidebar lose it at once", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const name = unique("Doomed ");
  const roomId = await createRoom(ana.page, name);
  await joinAt(ben.page, roomId);
  await say(ben.page, "soon gone");
  const sidebar = ben.page.getByRole("navigation", { name: "Rooms and conversations" });
  await expect(sidebar.getByRole("link", { name: new RegExp(name) })).toBeVisible();
  // Only the owner is offered it: Ben may not even edit.
  await expect(ben.page.getByRole("button", { name: "Delete room…" })).toHaveCount(0);

  await ana.page.getByRole("button", { name: "Edit name and topic" }).click();
  await ana.page.getByRole("button", { name: "Delete room…" }).click();
  const confirm = ana.page.getByRole("form", { name: "Delete the room" });
  const deleteButton = confirm.getByRole("button", { name: "Delete for everyone" });
  await expect(deleteButton).toBeDisabled();
  await confirm.getByLabel("Room name").fill("not the name");
  await expect(deleteButton).toBeDisabled();
  await confirm.getByLabel("Room name").fill(name);
  await ana.page.screenshot({ path: path.join(SCREENS, "room-delete-confirm.png"), fullPage: true });
  await deleteButton.click();
  await expect(ana.page).toHaveURL(/\/$/);

  // Ben's open tab says so, and his sidebar loses the room, without a reload.
  await expect(ben.page.getByText(`${ana.name} deleted this room.`)).toBeVisible();
  await expect(ben.page.getByText("no longer a member")).toHaveCount(0);
  await expect(sidebar.getByRole("link", { name: new RegExp(name) })).toHaveCount(0);
  await ben.page.screenshot({ path: path.join(SCREENS, "room-deleted.png"), fullPage: true });
  // Gone for good: the room's page is a "no such room" now.
  await gotoHydrated(ben.page, `/rooms/${roomId}`);
  await expect(ben.page.getByText("soon gone")).toHaveCount(0);

  await ana.context.close();
  await ben.context.close();
});
