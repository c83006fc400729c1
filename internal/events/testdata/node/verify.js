// Reads a JSON document {secret, headers, body} on stdin and verifies the
// delivery with the official standardwebhooks package; prints the event
// type on success, exits 1 on failure.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { secret, headers, body } = JSON.parse(input);
  try {
    const payload = new Webhook(secret).verify(body, headers);
    process.stdout.write(payload.type + "\n");
  } catch (e) {
    process.stderr.write("verification failed: " + e.message + "\n");
    process.exit(1);
  }
});
