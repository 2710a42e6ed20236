"""Pure domain logic of the renderer: validation and structure safety."""
