"""Pure domain logic of the redactor: the forms a secret takes, and the masking kernel."""
