// A short two-note tone for dashboard notices, behind a switch the user turns on (which is
// also the gesture browsers need before a page may play sound). The choice is remembered.

export function soundSwitch(button, { storageKey, offText, onText }) {
  let audio = null;
  let on = false;

  function ensureAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }

  function set(value) {
    on = value;
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? onText : offText;
    try {
      window.localStorage.setItem(storageKey, on ? "on" : "off");
    } catch {
      // Private browsing: the choice lasts for this page only.
    }
  }

  function play() {
    if (!on) return;
    const context = ensureAudio();
    if (!context || context.state !== "running") return;
    const start = context.currentTime;
    for (const [offset, pitch] of [[0, 660], [0.22, 880]]) {
      const osc = context.createOscillator();
      const gain = context.createGain();
      osc.type = "sine";
      osc.frequency.value = pitch;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
      osc.connect(gain).connect(context.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.2);
    }
  }

  button.addEventListener("click", () => {
    const next = !on;
    if (next) ensureAudio();
    set(next);
    if (next) play();
  });

  // Remembered "on": the first click or key press anywhere unlocks audio again.
  try {
    if (window.localStorage.getItem(storageKey) === "on") {
      set(true);
      const unlock = () => ensureAudio();
      document.addEventListener("pointerdown", unlock, { once: true });
      document.addEventListener("keydown", unlock, { once: true });
    }
  } catch {
    // Storage unavailable: sound stays off until switched on.
  }
  return { play, isOn: () => on };
}
