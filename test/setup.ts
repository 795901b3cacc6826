/** Runs around every test file: its scratch folders go when its tests are done, pass or fail. */
import { afterAll } from "vitest";
import { removeScratch } from "./helpers/cosim.js";

afterAll(removeScratch);
