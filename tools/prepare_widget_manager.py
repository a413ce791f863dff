"""Make swarmlab/data/handout/html-manager-embed.js from @jupyter-widgets/html-manager's package.

    npm pack @jupyter-widgets/html-manager@1.0.14 && tar xzf jupyter-widgets-html-manager-1.0.14.tgz
    python tools/prepare_widget_manager.py package/dist

The handout inlines dist/embed.js, which webpack wrote to load its fonts from beside the
script (a path it works out from the script's URL, which an inline script has not). So the
Font Awesome woff2 fonts are put in as data: URLs, the other font formats (never chosen
by a browser that reads woff2) become empty data: URLs, and the public path falls back to
an empty data: URL instead of throwing: the page asks nothing of anywhere.
"""
from __future__ import annotations

import base64
import re
import shutil
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "swarmlab" / "data" / "handout"
NO_PUBLIC_PATH = 'throw new Error("Automatic publicPath is not supported in this browser")'


def prepare(dist: Path) -> str:
    script = (dist / "embed.js").read_text()

    def inline(match: re.Match) -> str:
        name = match.group(1)
        if name.endswith(".woff2"):
            data = base64.b64encode((dist / name).read_bytes()).decode()
            return f'e.exports="data:font/woff2;base64,{data}"'
        return 'e.exports="data:,"'

    script, fonts = re.subn(r'e\.exports=n\.p\+"([0-9a-f]{20}\.(?:woff2|woff|ttf|eot|svg))"', inline, script)
    if fonts == 0 or NO_PUBLIC_PATH not in script:
        raise SystemExit("embed.js does not look like html-manager 1.0's bundle; check it by hand")
    script = script.replace(NO_PUBLIC_PATH, 'e="data:,"')
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", script)


if __name__ == "__main__":
    dist = Path(sys.argv[1])
    (TARGET / "html-manager-embed.js").write_text(prepare(dist))
    shutil.copy(dist / "embed.js.LICENSE.txt", TARGET / "html-manager-embed.js.LICENSE.txt")
