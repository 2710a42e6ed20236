"""Pure domain logic of the renderer: validation, structure safety, masking."""
