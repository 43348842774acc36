// The player's jump. Speeds are in pixels per frame, gravity in pixels per frame squared.
const GRAVITY = 0.5;
const JUMP_SPEED = 9;

function jumpHeight(speed = JUMP_SPEED, gravity = GRAVITY) {
  return (speed * speed) / (2 * gravity);
}

function jumpFrames(speed = JUMP_SPEED, gravity = GRAVITY) {
  return Math.ceil((2 * speed) / gravity);
}

module.exports = { GRAVITY, JUMP_SPEED, jumpHeight, jumpFrames };
