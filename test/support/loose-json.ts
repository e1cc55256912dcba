/**
 * A response body the simulator tests check field by field; typing each one precisely would add
 * nothing.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;
export type Obj = Record<string, Json>;
