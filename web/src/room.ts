// Watch parties: "Watch together" starts a room and shows its short link (this page's
// URL with `?room=ID`, the session kept); opening such a link joins the room. In a room
// every member's clock follows the room's one clock (the server moves each member's
// clock; sync.ts keeps the page's clock on it). The panel lists who is watching; the
// host hands control over or lets everyone control; anyone may leave (watching on
// alone from the current moment) and rejoin (at the room's moment). A fresh connection
// rejoins the room the page is in. docs/protocol.md "Watch parties".

import type { Command } from "./commands";
import { $, disclose, sayStatus } from "./dom";
import type { RoomMessage, ServerMessage } from "./types";

const NAME_KEY = "racereplay.room-name";

/** What the server's room errors mean for the viewer (codes from docs/protocol.md). */
const ROOM_ERRORS: Record<string, string> = {
  room_not_found: "This watch party was not found: it ended, or the link is wrong.",
  room_full: "This watch party is full.",
  too_many_rooms: "The server has too many watch parties right now: try again later.",
  room_other_session: "This watch party plays another session.",
  rooms_unavailable: "Watch parties are unavailable for a moment: you keep watching.",
  not_host: "Only the host controls this watch party.",
  not_member: "You are not in a watch party.",
};

function storedName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

function storeName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // storage disabled: the name is asked again next time
  }
}

export class WatchParty {
  /** The room the page is in or was asked to join (the URL's `?room=`); null: alone. */
  wanted: string | null;
  /** The last state of the room while a member; null when not in one. */
  room: RoomMessage | null = null;
  /** After every change of room membership (for the shareable URL). */
  onChange: () => void = () => {};

  private panel = $("#room-panel");
  private toggle = $<HTMLButtonElement>("header .room-btn");
  private status = $(".room-status", this.panel);
  private nameInput = $<HTMLInputElement>(".room-name", this.panel);
  private start = $(".room-start", this.panel);
  private live = $(".room-live", this.panel);
  private link = $<HTMLInputElement>(".room-link", this.panel);
  private members = $(".room-members", this.panel);
  private hostTools = $(".room-host-tools", this.panel);
  private handTo = $<HTMLSelectElement>(".room-handover", this.panel);
  private everyone = $<HTMLInputElement>(".room-everyone", this.panel);
  private leaveButton = $<HTMLButtonElement>(".room-leave", this.panel);
  private rejoinButton = $<HTMLButtonElement>(".room-rejoin", this.panel);
  private left = false; // left the room on purpose: a reconnection does not rejoin it

  constructor(
    private send: (command: Command) => void,
    private session: string,
    roomFromUrl: string | null,
  ) {
    this.wanted = roomFromUrl;
    this.nameInput.value = storedName();
    this.toggle.addEventListener("click", () => this.show(this.panel.hidden));
    $(".room-close", this.panel).addEventListener("click", () => this.show(false));
    $(".room-create", this.panel).addEventListener("click", () => this.create());
    $(".room-copy", this.panel).addEventListener("click", () => this.copy());
    $(".room-give", this.panel).addEventListener("click", () => {
      if (this.handTo.value) this.send({ type: "room_host", member: this.handTo.value });
    });
    this.everyone.addEventListener("change", () =>
      this.send({ type: "room_policy", policy: this.everyone.checked ? "everyone" : "host" }),
    );
    this.leaveButton.addEventListener("click", () => this.leave());
    this.rejoinButton.addEventListener("click", () => this.rejoin());
    if (roomFromUrl) this.show(true);
    this.render();
  }

  /** The server's `join` on a fresh connection: rejoin the room, if any. True: handled. */
  rejoinOnConnect(): boolean {
    if (!this.wanted || this.left) return false;
    this.send({ type: "room_join", room: this.wanted, name: this.name() });
    return true;
  }

  /** The viewer may play, pause, seek and change speed (alone, or allowed by the room). */
  mayControl(): boolean {
    const r = this.room;
    return !r || r.policy === "everyone" || r.host === r.you;
  }

  /** A control the viewer may not use now: say why. */
  refused(): void {
    this.say(ROOM_ERRORS.not_host, true);
  }

  /** Whether the page follows a room's clock right now. */
  get joined(): boolean {
    return this.room !== null;
  }

  message(msg: ServerMessage): void {
    if (msg.type === "room") {
      const first = this.room === null;
      this.room = msg;
      this.wanted = msg.id;
      this.left = false;
      if (first) this.say(`In watch party ${msg.id}.`);
      this.render();
      if (first) this.onChange();
    } else if (msg.type === "room_left") {
      this.room = null;
      this.left = true;
      this.say("You left the watch party: you watch alone from here. Rejoin to follow it again.");
      this.render();
      this.onChange();
    } else if (msg.type === "error" && msg.code in ROOM_ERRORS) {
      if (msg.code === "room_not_found" || msg.code === "room_other_session") {
        this.room = null;
        this.wanted = null;
        this.onChange();
      }
      this.say(ROOM_ERRORS[msg.code] + " " + msg.message, true);
      this.show(true);
      this.render();
    }
  }

  private name(): string {
    const name = this.nameInput.value.trim();
    storeName(name);
    return name;
  }

  private create(): void {
    this.send({ type: "room_create", name: this.name() });
  }

  private leave(): void {
    this.send({ type: "room_leave" });
  }

  private rejoin(): void {
    if (this.wanted) this.send({ type: "room_join", room: this.wanted, name: this.name() });
  }

  private async copy(): Promise<void> {
    this.link.select();
    try {
      await navigator.clipboard.writeText(this.link.value);
      this.say("Link copied.");
    } catch {
      this.say("Select the link and copy it.");
    }
  }

  /** The short link of room `id`: this page, its session, the room. */
  shareLink(id: string): string {
    const p = new URLSearchParams({ session: this.session, room: id });
    return `${location.origin}${location.pathname}?${p}`;
  }

  private show(open: boolean): void {
    disclose(this.panel, this.toggle, open);
  }

  private say(text: string, problem = false): void {
    sayStatus(this.status, text, problem);
  }

  private render(): void {
    const r = this.room;
    this.start.hidden = r !== null || (this.left && this.wanted !== null);
    this.live.hidden = r === null;
    this.rejoinButton.hidden = !(r === null && this.left && this.wanted !== null);
    this.toggle.textContent = r ? `Watching together (${r.members.length})` : "Watch together";
    if (!r) return;
    this.link.value = this.shareLink(r.id);
    this.members.replaceChildren(
      ...r.members.map((m) => {
        const li = document.createElement("li");
        const roles = [m.id === r.host ? "host" : "", m.id === r.you ? "you" : ""].filter(Boolean);
        li.textContent = roles.length ? `${m.name} (${roles.join(", ")})` : m.name;
        return li;
      }),
    );
    const hosting = r.host === r.you;
    this.hostTools.hidden = !hosting;
    const others = r.members.filter((m) => m.id !== r.you);
    this.handTo.replaceChildren(
      ...others.map((m) => {
        const option = document.createElement("option");
        option.value = m.id;
        option.textContent = m.name;
        return option;
      }),
    );
    $<HTMLButtonElement>(".room-give", this.panel).disabled = others.length === 0;
    this.everyone.checked = r.policy === "everyone";
  }
}
