// The seed the CI fuzz tests run with (fixed, so a failure reproduces); the bench picks its own.
export const kCiSeed = 20261206;
