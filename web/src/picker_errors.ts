// What went wrong while listing or opening sessions, told as a person would: a
// readable message, the server's own explanation where it gave one, and a Retry
// button where trying again can help. Never a raw status line, page or JSON.

import { ApiError } from "./api";

export interface Problem {
  message: string; // what happened and what to do
  detail: string | null; // the server's own sentence, when it gave one
  retry: boolean; // trying again can help
}

/** A build the server reports as failed (the status's `error`). */
export class BuildFailed extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

const later = (seconds: number | null) => (seconds ? `in ${seconds} s` : "in a moment");

/** The problem `err` is, for `what` ("The session list", a session's name). */
export function describeProblem(err: unknown, what: string): Problem {
  if (err instanceof BuildFailed)
    return { message: `${what} could not be built.`, detail: err.reason, retry: true };
  if (err instanceof ApiError) return fromStatus(err, what);
  if (err instanceof TypeError)
    // fetch() rejects with a TypeError when no answer came at all
    return {
      message:
        "The server cannot be reached: check that racereplay serve is still running, then retry.",
      detail: null,
      retry: true,
    };
  const detail = err instanceof Error ? err.message : String(err);
  return { message: `${what} could not be opened.`, detail, retry: true };
}

function fromStatus(err: ApiError, what: string): Problem {
  const { status, detail, retryAfter } = err;
  if (status === 429)
    return {
      message: `The server is busy with other sessions: try again ${later(retryAfter)}.`,
      detail,
      retry: true,
    };
  if (status === 503)
    return {
      message: `${what} is not available right now: try again ${later(retryAfter)}.`,
      detail,
      retry: true,
    };
  if (status === 404)
    return { message: `${what} is not on this server: choose one below.`, detail, retry: false };
  if (status >= 400 && status < 500 && status !== 409)
    return { message: `This server does not open ${what}.`, detail, retry: false };
  return {
    message: `${what} could not be opened (the server answered ${status}).`,
    detail,
    retry: true,
  };
}

/** Show `problem` in `el`, with a Retry button calling `retry` when trying again helps. */
export function showProblem(el: HTMLElement, problem: Problem, retry?: () => void): void {
  const message = document.createElement("span");
  message.className = "problem-message";
  message.textContent = problem.message;
  const parts: (string | Node)[] = [message];
  if (problem.detail) {
    const detail = document.createElement("span");
    detail.className = "problem-detail";
    detail.textContent = problem.detail;
    parts.push(" ", detail);
  }
  if (problem.retry && retry) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "retry";
    button.textContent = "Retry";
    button.addEventListener("click", () => {
      clearProblem(el);
      retry();
    });
    parts.push(" ", button);
  }
  el.setAttribute("role", "alert");
  el.replaceChildren(...parts);
  el.hidden = false;
}

export function clearProblem(el: HTMLElement): void {
  el.hidden = true;
  el.replaceChildren();
}
