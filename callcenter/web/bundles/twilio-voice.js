// What the softphone page takes from Twilio's Voice JavaScript SDK, bundled by esbuild at
// install time (`npm run build`) into one ES module the app serves itself.
export { Call, Device } from "@twilio/voice-sdk";
