#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (fuzz/*.cpp): small, valid inputs of every format, cut from
the real samples in ../shared/data where there are some, else written here the way the formats'
specifications say (and the way tests/format_writers.h writes them).
usage: fuzz/make_seeds.py OUT_DIR [SHARED_DATA]   (OUT_DIR/<target>/seed-*)"""
import glob, gzip, io, json, os, struct, sys, zipfile, zlib

import numpy as np

out, data = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../shared/data"))
repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SEP = b"\n--8<--\n"
count = {}


def seed(target, data_bytes):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    n = count.get(target, 0)
    count[target] = n + 1
    with open(os.path.join(out, target, "seed-%03d" % n), "wb") as f:
        f.write(data_bytes if isinstance(data_bytes, bytes) else data_bytes.encode())


def have(*p):
    return os.path.exists(os.path.join(data, *p))


# safetensors: the header JSON (dtype, shape, data_offsets) and the raw little-endian bytes.
def safetensors(tensors, meta=None):
    header, blob = {}, b""
    for name, a in tensors.items():
        dt = {"float32": "F32", "float64": "F64", "int64": "I64", "int32": "I32", "uint8": "U8", "float16": "F16", "bool": "BOOL"}[str(a.dtype)]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


seed("safetensors", safetensors({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}))
seed("safetensors", safetensors({"a": np.array([1, 2], dtype=np.int64), "b": np.array([[True, False]]), "c": np.zeros((0, 4), np.float16)},
                                {"format": "pesuite-checkpoint-1", "step": "3"}))
seed("safetensors", safetensors({"x": np.array(2.5, dtype=np.float64), "y": np.arange(4, dtype=np.uint8), "z": np.arange(3, dtype=np.int32)}))

# TOML configs: the repository's own.
for p in sorted(glob.glob(os.path.join(repo, "experiments/configs/**/*.toml"), recursive=True))[:40]:
    if os.path.getsize(p) < 8000:
        seed("toml_config", open(p, "rb").read())
seed("toml_config", '[a]\nb = 1\nc = [1.5, "x", true]\n[a.d]\ne = 1979-05-27T07:32:00Z\nf = """\nmulti\n"""\n')

# Dataset specs.
for s in ["tu:${data}/tu/MUTAG.zip", "csl:?seed=0&per_class=4", "ogb:/d/ogbg_molhiv?split=scaffold&subset=train",
          "voc:/data/VOC2012?split=val&difficult=0&classes=a,b", "count:?graphs=48&nodes=8-16&p=0.3&seed=0",
          "fashion-mnist:?limit=12000", "edgelist:/g.txt?directed=1&weighted=auto&base=0", "coco:/x.json?images=/i&crowd=0",
          "idx:${data}/fmnist?split=test&limit=5", "cifar10:/c?split=train", "linqs:/cora.zip?name=cora"]:
    seed("dataset_spec", s)

# TU: the real MUTAG zip, and its first graphs as text files.
def tu_files(zf, name, graphs):
    def read(suffix):
        for m in zf.namelist():
            if m.endswith(name + "_" + suffix + ".txt"):
                return zf.read(m).decode().split("\n")
        return None
    ind = [int(x) for x in read("graph_indicator") if x.strip()]
    nodes = [i for i, g in enumerate(ind) if g <= graphs]
    keep_n = len(nodes)
    a = [l for l in read("A") if l.strip()]
    edges = [i for i, l in enumerate(a) if max(int(v) for v in l.split(",")) <= keep_n]
    files = {"A": [a[i] for i in edges], "graph_indicator": [str(g) for g in ind[:keep_n]]}
    for key, rows in (("graph_labels", range(graphs)), ("node_labels", range(keep_n)), ("edge_labels", edges),
                      ("node_attributes", range(keep_n)), ("edge_attributes", edges), ("graph_attributes", range(graphs))):
        lines = read(key)
        if lines is not None:
            files[key] = [lines[i] for i in rows]
    return files


order = ["A", "graph_indicator", "graph_labels", "node_labels", "edge_labels", "node_attributes", "edge_attributes", "graph_attributes"]
for ds in ["MUTAG", "ENZYMES"]:
    if have("tu", ds + ".zip"):
        zf = zipfile.ZipFile(os.path.join(data, "tu", ds + ".zip"))
        if ds == "MUTAG":
            seed("tu_zip", open(os.path.join(data, "tu", ds + ".zip"), "rb").read())
        files = tu_files(zf, ds, 2)
        parts = [("\n".join(files.get(k, [])) + "\n").encode() if k in files else None for k in order]
        while parts and parts[-1] is None:
            parts.pop()
        seed("tu_text", SEP.join(p if p is not None else b"" for p in parts))
        small = io.BytesIO()
        with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as z:
            for k, lines in files.items():
                z.writestr("%s/%s_%s.txt" % (ds, ds, k), "\n".join(lines) + "\n")
        seed("tu_zip", small.getvalue())
seed("tu_text", SEP.join([b"1,2\n2,1\n2,3\n3,2\n", b"1\n1\n2\n", b"1\n-1\n", b"0\n1\n0\n", b"0\n0\n1\n1\n"]))

# OGB: the first graphs of ogbg-molesol, plain and with the first file gzipped.
if have("ogb", "ogbg_molesol", "raw", "edge.csv.gz"):
    raw = os.path.join(data, "ogb", "ogbg_molesol", "raw")
    rd = lambda s: gzip.open(os.path.join(raw, s + ".csv.gz")).read().decode().split("\n")
    nn, ne = [int(x) for x in rd("num-node-list")[:3]], [int(x) for x in rd("num-edge-list")[:3]]
    parts = ["\n".join(map(str, nn)), "\n".join(map(str, ne)), "\n".join(rd("edge")[:sum(ne)]), "\n".join(rd("node-feat")[:sum(nn)]),
             "\n".join(rd("edge-feat")[:sum(ne)]), "\n".join(rd("graph-label")[:3]), "0\n1", "2", "2"]
    parts = [(p + "\n").encode() for p in parts]
    seed("ogb_csv", SEP.join(parts))
    seed("ogb_csv", SEP.join([gzip.compress(parts[0])] + parts[1:]))

# LINQS: the first papers of Cora and the citations among them.
if have("cora", "cora.zip"):
    zf = zipfile.ZipFile(os.path.join(data, "cora", "cora.zip"))
    cm = [m for m in zf.namelist() if m.endswith(".content")][0]
    ct = [m for m in zf.namelist() if m.endswith(".cites")][0]
    content = zf.read(cm).decode().split("\n")
    papers = content[:40]
    ids = {l.split("\t")[0] for l in papers if l}
    cites = [l for l in zf.read(ct).decode().split("\n") if l and all(x in ids for x in l.split("\t"))]
    seed("linqs", ("\n".join(papers) + "\n").encode() + SEP + ("\n".join(cites + ["0\t1"]) + "\n").encode())
seed("linqs", b"1\t0\t1\ta\n2\t1\t0\tb\n3\t1\t1\ta\n" + SEP + b"1\t2\n2\t3\n")

# Edge lists.
for s in ["# a comment\n0 1\n1 2\n2 0\n", "1 2 0.5\n2 3 1.5\n3 1 2\n", "1\t2\n2\t3\n\n% other\n", "0 0\n5 3\n"]:
    seed("edgelist", s)

# IDX: the first Fashion-MNIST test images and labels (Debian's dataset-fashion-mnist).
fm = "/usr/share/datasets/fashion-mnist"
if os.path.exists(fm + "/t10k-images-idx3-ubyte.gz"):
    img = gzip.open(fm + "/t10k-images-idx3-ubyte.gz").read()
    lab = gzip.open(fm + "/t10k-labels-idx1-ubyte.gz").read()
    seed("idx", img[:4] + struct.pack(">III", 2, 28, 28) + img[16:16 + 2 * 784])
    seed("idx", lab[:4] + struct.pack(">I", 10) + lab[8:18])
seed("idx", b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(range(6)))

# CIFAR-10: records of 1 label byte + 3072 pixel bytes.
rng = np.random.default_rng(0)
seed("cifar", b"".join(bytes([k]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for k in (3, 7)))

# VOC: BCCD's annotations.
for p in sorted(glob.glob(os.path.join(data, "voc-bccd/Annotations/*.xml")))[:4]:
    seed("voc_xml", open(p, "rb").read())
seed("voc_xml", b"<annotation><size><width>10</width><height>8</height><depth>3</depth></size><object><name>cat</name>"
                b"<difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>5</xmax><ymax>7</ymax></bndbox></object></annotation>")

# COCO: the tiny sample cut to its first images and their annotations.
if have("coco-tiny", "instances_train2017_small.json"):
    j = json.load(open(os.path.join(data, "coco-tiny", "instances_train2017_small.json")))
    imgs = j["images"][:2]
    keep = {i["id"] for i in imgs}
    j2 = dict(j, images=imgs, annotations=[a for a in j["annotations"] if a["image_id"] in keep][:6])
    for a in j2["annotations"]:
        a.pop("segmentation", None)
    seed("coco_json", json.dumps(j2).encode())
seed("coco_json", json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3}],
                              "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 2], "iscrowd": 0}],
                              "categories": [{"id": 2, "name": "cat"}]}).encode())

# npy: several dtypes, orders and versions.
for a in [np.arange(6, dtype=np.float32).reshape(2, 3), np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
          np.array([True, False]), np.zeros((0,), np.float64), np.arange(4, dtype=">i4"), np.array(3.5)]:
    b = io.BytesIO()
    np.save(b, a)
    seed("npy", b.getvalue())


# PNG: written by hand (signature, IHDR, IDAT, IEND) in the colour types libpng reads.
def png(w, h, color_type, bit_depth, raw_rows, plte=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if plte:
        body += chunk(b"PLTE", plte)
    body += chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + r for r in raw_rows)))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


pngs = [png(3, 2, 2, 8, [bytes(range(9)), bytes(range(9, 18))]), png(2, 2, 0, 8, [b"\x00\xff", b"\x80\x40"]),
        png(2, 1, 6, 8, [bytes(range(8))]), png(2, 1, 2, 16, [bytes(range(12))]), png(2, 2, 3, 8, [b"\x00\x01", b"\x01\x00"], b"\xff\x00\x00\x00\xff\x00")]
for p in pngs:
    seed("png", p)
    seed("image_decode", p)
# A BMP and a PPM for the decoder, and one real JPEG (a BCCD image).
seed("image_decode", b"P6\n2 2\n255\n" + bytes(range(12)))
bmp_pixels = bytes(range(6)) + b"\x00\x00" + bytes(range(6, 12)) + b"\x00\x00"
seed("image_decode", b"BM" + struct.pack("<IHHI", 54 + len(bmp_pixels), 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(bmp_pixels), 0, 0, 0, 0) + bmp_pixels)
jpgs = sorted(glob.glob(os.path.join(data, "300wlp-sample/*/*.jpg")), key=os.path.getsize)[:1]
for p in jpgs:
    seed("image_decode", open(p, "rb").read())

# .mat: the head-pose samples' (MATLAB v5).
for p in sorted(glob.glob(os.path.join(data, "300wlp-sample/*/*.mat")))[:2] + sorted(glob.glob(os.path.join(data, "aflw2000-sample/*.mat")))[:1]:
    seed("mat", open(p, "rb").read())

print(" ".join("%s:%d" % kv for kv in sorted(count.items())))
