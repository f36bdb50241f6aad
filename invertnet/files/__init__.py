"""Files from elsewhere and files invertnet writes: guarded reading (``guarded``: regular files only, bounded,
never blocking), atomic writes (``atomic``), downloads into torch.hub's cache (``downloads``), sources tried in order
and trusted on first use (``sources``), and the Caffe ``.caffemodel`` reader (``caffemodel``). The bottom layer:
it knows nothing of networks."""

from .atomic import atomic_path, check_not_input, check_writable
from .guarded import check_input, open_append, open_input, read_input, read_text_input

__all__ = ["atomic_path", "check_input", "check_not_input", "check_writable", "open_append", "open_input", "read_input", "read_text_input"]
