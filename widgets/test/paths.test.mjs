// Base paths and routes of the standalone page.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./support/load.mjs";

const P = await load("src/paths.ts");

test("socket.io paths", () => {
  assert.equal(P.normalizeSocketPath("socket.io"), "/socket.io");
  assert.equal(P.normalizeSocketPath("/socket.io/"), "/socket.io");
  assert.equal(P.normalizeSocketPath("/user/x/ccviz/socket.io/"), "/user/x/ccviz/socket.io");
  assert.equal(P.normalizeSocketPath(""), "/socket.io");
});

test("routes under a base", () => {
  assert.deepEqual(P.routeOf("/", "/"), { page: "lobby" });
  assert.deepEqual(P.routeOf("/view/abc", "/"), { page: "game", gameId: "abc" });
  assert.deepEqual(P.routeOf("/user/x/ccviz/", "/user/x/ccviz/"), { page: "lobby" });
  assert.deepEqual(P.routeOf("/user/x/ccviz", "/user/x/ccviz/"), { page: "lobby" });
  assert.deepEqual(P.routeOf("/user/x/ccviz/view/a%20b/", "/user/x/ccviz"), { page: "game", gameId: "a b" });
  assert.deepEqual(P.routeOf("/elsewhere", "/user/x/ccviz/"), { page: "unknown" });
});

test("a base guessed from the path", () => {
  assert.equal(P.inferBase("/view/abc"), "/");
  assert.equal(P.inferBase("/user/x/ccviz/view/abc"), "/user/x/ccviz/");
  assert.equal(P.inferBase("/user/x/ccviz/"), "/user/x/ccviz/");
});
