"""The kill switch: a flag file beside the book. While it exists the keeper sends nothing.

`ammkeeper pause` writes it (with a reason), `ammkeeper resume` removes it; an operator can
also `touch` it by hand, and the keeper writes it itself when its circuit breaker trips, so
a tripped breaker stays tripped across restarts until someone resumes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bot.core.book import Book
from bot.core.errors import BadInput

PAUSE_SUFFIX = ".paused"


def pause_path(book_path: Path, book: Book | None = None) -> Path:
    """The book's flag file: `[keeper] pause_file` (relative to the book), or BOOK.paused beside it."""
    if book is not None and book.keeper.pause_file:
        configured = Path(book.keeper.pause_file)
        return configured if configured.is_absolute() else book_path.parent / configured
    return book_path.with_name(book_path.stem + PAUSE_SUFFIX)


def paused(path: Path) -> str | None:
    """The reason the book is paused (the file's first line, or 'paused'), or None when it is not."""
    try:
        text = path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:  # unreadable but present: paused all the same
        return f"paused ({path} is unreadable: {exc.strerror})"
    return text.splitlines()[0] if text else "paused"


def pause(path: Path, reason: str) -> None:
    """Write the flag file atomically (the keeper never reads half a reason)."""
    line = f"{reason.strip() or 'paused'} (since {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())})"
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(line + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise BadInput(f"cannot write the pause file {path}: {exc.strerror}") from None


def resume(path: Path) -> bool:
    """Remove the flag file; False when the book was not paused."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BadInput(f"cannot remove the pause file {path}: {exc.strerror}") from None
    return True
