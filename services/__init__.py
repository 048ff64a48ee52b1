"""The predict and consume services and the domain code they share with volctl."""
