"""garden-shim stream-in / stream-out: tar archives in and out of the container."""

import io
import os
import tarfile

from harness import GardenError, ShimTestCase, main, make_tar



def read_tar(data):
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            if m.isfile():
                out[m.name.lstrip("./")] = t.extractfile(m).read()
    return out


class FilesTest(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.h = cls.client.create({"handle": "crunner-test-files"})

    def test_round_trip(self):
        big = os.urandom(1 << 20)
        self.client.stream_in(self.h, "/tmp/in/sub", make_tar({"a.txt": b"hello", "d/big": big}))
        code, out, _ = self.run_proc(self.h, "cat", "/tmp/in/sub/a.txt")
        self.assertEqual((code, out), (0, "hello"))
        files = read_tar(self.client.stream_out(self.h, "/tmp/in/sub/"))
        self.assertEqual(files["a.txt"], b"hello")
        self.assertEqual(files["d/big"], big)
        files = read_tar(self.client.stream_out(self.h, "/tmp/in/sub/a.txt"))
        self.assertEqual(files, {"a.txt": b"hello"})

    def test_stream_in_as_user(self):
        self.client.stream_in(self.h, "/home/user/x", make_tar({"f": b"1"}), user="user")
        code, out, _ = self.run_proc(self.h, "stat", "-c", "%u", "/home/user/x/f")
        self.assertEqual(out.strip(), "1000")
        # Guardian's nstar creates the destination as root, owned by the user, and extracts
        # there: the user's lack of access to /root does not matter.
        self.client.stream_in(self.h, "/root/x", make_tar({"f": b"1"}), user="user")
        code, out, _ = self.run_proc(self.h, "stat", "-c", "%u", "/root/x/f")
        self.assertEqual(out.strip(), "1000")
        with self.assertRaises(GardenError):
            self.client.stream_in(self.h, "/x", make_tar({"f": b"1"}), user="nosuchuser")

    def test_paths_resolve_inside_container(self):
        # A symlink to / inside the container must not reach the host's root.
        self.run_proc(self.h, "ln", "-sfn", "/", "/tmp/escape")
        self.client.stream_in(self.h, "/tmp/escape/tmp/through", make_tar({"f": b"in"}))
        code, out, _ = self.run_proc(self.h, "cat", "/tmp/through/f")
        self.assertEqual(out, "in")
        self.assertFalse(os.path.exists("/tmp/through/f"))

    def test_stream_out_missing(self):
        with self.assertRaises(GardenError) as e:
            self.client.stream_out(self.h, "/does/not/exist")
        self.assertEqual(e.exception.status, 500)
        with self.assertRaises(GardenError) as e:
            self.client.stream_out("crunner-test-nope", "/tmp")
        self.assertEqual(e.exception.status, 404)


if __name__ == "__main__":
    main()
