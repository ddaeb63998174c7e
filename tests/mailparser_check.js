// Parses a message from stdin with Nodemailer's mailparser (what many web mail readers and helpdesks use) and
// prints its Subject and the addresses' display names as JSON, for the tests to compare with what we composed.
const { simpleParser } = require("mailparser");
let input = [];
process.stdin.on("data", (chunk) => input.push(chunk));
process.stdin.on("end", async () => {
  const mail = await simpleParser(Buffer.concat(input));
  const names = (field) => (field ? field.value.map((a) => ({ name: a.name, address: a.address })) : []);
  process.stdout.write(JSON.stringify({ subject: mail.subject, from: names(mail.from), to: names(mail.to) }));
});
