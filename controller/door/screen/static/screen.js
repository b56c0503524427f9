// The door screen: follows the door process's event stream (Server-Sent Events) and shows
// each state at once. A watchdog shows "Storing / Out of order" when neither a state nor a
// beat arrived for data-offline-after-ms (the door process stopped, hung or is unreachable),
// so the screen never freezes on a message that is no longer true. EventSource reconnects by
// itself; a stream the browser gave up on is opened again.
"use strict";
(function () {
  const body = document.body;
  const texts = JSON.parse(document.getElementById("texts").textContent);
  const offlineAfter = Number(body.dataset.offlineAfterMs) || 3000;
  const $ = (id) => document.getElementById(id);
  let lastHeard = performance.now();
  let state = null;
  let received = 0;  // performance.now() when `state` arrived: countdowns run from there
  let offline = true;
  let source = null;

  function setTone(tone) {
    body.classList.remove("tone-neutral", "tone-good", "tone-bad");
    body.classList.add("tone-" + tone);
  }

  function setPicture(name) {
    body.dataset.picture = name;
    $("picture-use").setAttribute("href", "#pic-" + name);
  }

  function fill(template, name, value) {
    return template.split("{" + name + "}").join(value);
  }

  function showOffline() {
    offline = true;
    body.classList.add("offline");
    setTone("bad");
    setPicture("offline");
    $("message-nl").textContent = texts.offline.nl;
    $("message-en").textContent = texts.offline.en;
    const nl = document.createElement("span"), en = document.createElement("span");
    nl.lang = "nl";
    nl.textContent = texts.offline_hint.nl;
    en.lang = "en";
    en.className = "en";
    en.textContent = texts.offline_hint.en;
    $("hint").replaceChildren(nl, en);
    $("mode-nl").textContent = "";
    $("mode-en").textContent = "";
    $("pin").hidden = true;
    $("countdown").hidden = true;
  }

  function showState() {
    offline = false;
    body.classList.remove("offline");
    body.dataset.phase = state.phase;
    body.dataset.version = String(state.version);
    setTone(state.tone);
    setPicture(state.picture);
    $("message-nl").textContent = state.nl;
    $("message-en").textContent = state.en;
    $("hint").textContent = "";
    $("mode-nl").textContent = state.mode_nl;
    $("mode-en").textContent = state.mode_en === state.mode_nl ? "" : state.mode_en;
    const pin = $("pin");
    if (state.pin_keys === null) {
      pin.hidden = true;
    } else {
      pin.replaceChildren();
      for (let i = 0; i <= state.pin_keys; i++) {
        const dot = document.createElement("span");
        dot.className = i < state.pin_keys ? "dot" : "dot next";
        pin.appendChild(dot);
      }
      pin.setAttribute("aria-label", texts.pin.nl + ": " + state.pin_keys);
      pin.dataset.keys = String(state.pin_keys);
      pin.hidden = false;
    }
    showCountdown();
  }

  function minutesAndSeconds(seconds) {
    const whole = Math.max(0, Math.ceil(seconds));
    const s = whole % 60;
    return Math.floor(whole / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function showCountdown() {
    const box = $("countdown");
    if (offline || state === null) { box.hidden = true; return; }
    const gone = (performance.now() - received) / 1000;
    let nl = null, en = null;
    if (state.unlock_seconds !== null) {
      const left = String(Math.max(0, Math.ceil(state.unlock_seconds - gone)));
      nl = fill(texts.unlocked.nl, "seconds", left);
      en = fill(texts.unlocked.en, "seconds", left);
    } else if (state.closing_seconds !== null && state.closing_seconds - gone > 0) {
      const left = minutesAndSeconds(state.closing_seconds - gone);
      nl = fill(texts.closing.nl, "time", left);
      en = fill(texts.closing.en, "time", left);
    }
    box.hidden = nl === null;
    box.dataset.kind = state.unlock_seconds !== null ? "unlock" : "closing";
    if (nl !== null) {
      $("countdown-nl").textContent = nl;
      $("countdown-en").textContent = en;
    }
  }

  function heard() { lastHeard = performance.now(); }

  function connect() {
    if (source !== null) source.close();
    source = new EventSource("/events");
    source.addEventListener("state", (event) => {
      heard();
      state = JSON.parse(event.data);
      received = performance.now();
      showState();
    });
    source.addEventListener("beat", () => {
      heard();
      if (offline && state !== null) showState();
    });
    source.addEventListener("down", () => { showOffline(); });
  }

  setInterval(() => {
    if (!offline && performance.now() - lastHeard > offlineAfter) showOffline();
    if (source !== null && source.readyState === EventSource.CLOSED) connect();
    showCountdown();
  }, 200);
  showOffline();
  connect();
})();
