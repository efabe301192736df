// The live view: keeps the list of calls in progress and their transcripts current from the
// server's event stream. Text is always set with textContent (never parsed as HTML).
"use strict";
(() => {
  const list = document.getElementById("live-calls");
  const empty = document.getElementById("live-empty");
  const status = document.getElementById("live-status");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function cardFor(sid) {
    for (const c of list.querySelectorAll(".live-call")) {
      if (c.dataset.sid === sid) return c;
    }
    return null;
  }

  function addCard(call) {
    const card = el("div", "card live-call");
    card.dataset.sid = call.call_sid;
    const head = el("div");
    head.append(el("b", "", `${call.from || "?"} → ${call.to || "?"}`), " ");
    head.append(el("span", "muted",
      `${call.agent || ""} · ${call.direction || ""} · started ${call.started}`), " ");
    const link = el("a", "", "details");
    link.href = `/dashboard/calls/${encodeURIComponent(call.call_sid)}`;
    head.append(link, " ", el("span", "state muted"));
    card.append(head, el("div", "transcript"));
    list.prepend(card);
    return card;
  }

  function syncCalls(calls) {
    const live = new Set(calls.map((c) => c.call_sid));
    for (const call of calls) {
      const card = cardFor(call.call_sid) || addCard(call);
      card.classList.remove("ended");
      card.querySelector(".state").textContent = call.status ? `(${call.status})` : "";
    }
    for (const card of list.querySelectorAll(".live-call")) {
      if (!live.has(card.dataset.sid) && !card.classList.contains("ended")) {
        card.classList.add("ended");
        card.style.opacity = "0.6";
        card.querySelector(".state").textContent = "(ended)";
      }
    }
    empty.hidden = list.querySelector(".live-call") !== null;
  }

  function addTurn(t) {
    const card = cardFor(t.call_sid) || addCard({ call_sid: t.call_sid, started: "" });
    const transcript = card.querySelector(".transcript");
    if (transcript.querySelector(`[data-idx="${t.idx}"]`)) return; // already shown
    const line = el("div", `line ${t.speaker}${t.interrupted ? " interrupted" : ""}`);
    line.dataset.idx = t.idx;
    line.append(el("span", "who", t.speaker === "agent" ? "Agent" : "Caller"));
    line.append(el("span", "text", t.text));
    line.append(el("div", "timings",
      t.voice_to_voice_ms == null ? "" : `voice-to-voice ${t.voice_to_voice_ms} ms`));
    transcript.append(line);
    empty.hidden = true;
  }

  const source = new EventSource(`/dashboard/live/events?after=${list.dataset.after}`);
  source.addEventListener("open", () => { status.textContent = "Live: updates as calls happen."; });
  source.addEventListener("error", () => { status.textContent = "Reconnecting…"; });
  source.addEventListener("calls", (e) => syncCalls(JSON.parse(e.data)));
  source.addEventListener("turn", (e) => addTurn(JSON.parse(e.data)));
})();
