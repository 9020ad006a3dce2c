"""The reliability and security suite: fault matrix, load, fuzzing, server security, secrets."""
