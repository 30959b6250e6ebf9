"""The subcommands of `kiosk-fleet`, one module each group; each module's `add_parsers(sub)`
adds its parsers and sets `func(ctx) -> exit code` on them."""
