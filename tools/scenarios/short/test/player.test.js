const assert = require("node:assert");
const { jumpHeight, jumpFrames } = require("../src/player.js");

assert.ok(jumpHeight() >= 64, "the player clears a 64 px wall");
assert.ok(jumpFrames() <= 40, "a jump lasts at most 40 frames");
console.log("player: 2 tests passed");
