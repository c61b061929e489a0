"""The image archive imports into containerd, where the kubelet finds it:
nothing is ever pulled (no registry is reachable here)."""


def test_image_is_in_containerd(kube, image):
    listed = kube.ctr("-n", "k8s.io", "images", "ls", "-q").stdout.split()
    assert image in listed, f"{image} not in containerd's k8s.io images: {listed}"
    # Every layer present and unpacked for the snapshotter the CRI uses.
    check = kube.ctr("-n", "k8s.io", "images", "check", f"name=={image}").stdout
    assert "complete" in check, check
