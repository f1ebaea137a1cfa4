// One way for a page to get its phone: an Access Token from the app, then Twilio's Voice
// SDK `Device` (production) or the emulator's browser phone with the same interface
// (locally), registered and kept in tokens. Used by the softphone and the live board.

async function token(csrf) {
  const answer = await fetch("/api/agents/me/voice-token", {
    method: "POST", headers: { "X-CSRF-Token": csrf },
  });
  const body = await answer.json().catch(() => null);
  if (!answer.ok) throw new Error(body?.error?.message || `no softphone token (${answer.status})`);
  return body.token;
}

// `config` is the page's {mode, emulator}; `listen(device)` adds the page's handlers
// before the Device registers.
export async function connectPhone(config, csrf, listen) {
  const { Device } = config.mode === "emulator"
    ? await import("./emulator.js")
    : await import("/vendor/twilio-voice/twilio-voice.js");
  const device = new Device(await token(csrf), { emulator: config.emulator, closeProtection: true });
  device.on("tokenWillExpire", async () => device.updateToken(await token(csrf)));
  listen(device);
  await device.register();
  return device;
}
