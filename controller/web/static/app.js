// openplus-door pages: the little JavaScript there is (everything works without it).
"use strict";

// Today: fetch the status JSON every few seconds and fill in [data-field] elements.
function startPolling(root) {
  const url = root.dataset.poll;
  const every = (Number(root.dataset.pollSeconds) || 5) * 1000;
  const scope = document.querySelector("main");
  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) return;
      const status = await response.json();
      scope.querySelectorAll("[data-field]").forEach((el) => {
        const value = status[el.dataset.field];
        if (value !== undefined && value !== null) el.textContent = String(value);
        if (el.dataset.class && status[el.dataset.class] !== undefined) {
          el.className = "badge " + el.dataset.class + "-" + status[el.dataset.class];
        }
      });
      const list = scope.querySelector("[data-list=alarms]");
      if (list && Array.isArray(status.alarms)) {
        list.replaceChildren(...(status.alarms.length ? status.alarms.map((alarm) => {
          const li = document.createElement("li");
          const a = document.createElement("a");
          a.href = "/entries/" + alarm.id;
          a.textContent = alarm.at + " · " + alarm.what;
          li.append(a);
          return li;
        }) : [Object.assign(document.createElement("li"), { textContent: list.dataset.empty })]));
      }
    } catch (err) { /* offline for a moment: try again next round */ }
  }
  window.setInterval(refresh, every);
}

// Entry: say so when the browser cannot play the clip's format (the download link stays).
function watchVideo(video) {
  video.addEventListener("error", () => {
    const note = document.getElementById(video.dataset.cannotPlay);
    if (note) note.hidden = false;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const poll = document.querySelector("[data-poll]");
  if (poll) startPolling(poll);
  const video = document.querySelector("video[data-cannot-play]");
  if (video) watchVideo(video);
});
