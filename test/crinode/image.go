package crinode

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// File is one entry of an image's single layer: a copy of the host file
// Src, or Data, or a symlink to Link, or a directory (Dir).
type File struct {
	Path string // absolute path in the image
	Src  string
	Data []byte
	Link string
	Dir  bool
	Mode int64 // 0: 0755 for Src and directories, 0644 for Data
}

// Image is a FROM-scratch image of one uncompressed layer.
type Image struct {
	Name       string // full reference, e.g. docker.io/tend/test:1
	Files      []File
	Entrypoint []string
	Cmd        []string
	User       string
	Env        []string
}

// WriteImage writes img as an OCI image layout archive (what
// `ctr images import` reads) to archive. Parent directories of every
// file are created in the layer.
func WriteImage(img Image, archive string) error {
	layer, err := layerTar(img.Files)
	if err != nil {
		return err
	}
	layerDigest := digest(layer)
	env := img.Env
	if env == nil {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cfg := JSON(map[string]any{
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"User":       img.User,
			"Env":        env,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	manifest := JSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": len(layer),
		}},
	})
	tag := img.Name[strings.LastIndex(img.Name, ":")+1:]
	index := JSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
			"platform":    map[string]any{"architecture": runtime.GOARCH, "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": img.Name, "org.opencontainers.image.ref.name": tag},
		}},
	})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, e := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(layerDigest, "sha256:"), layer},
		{"blobs/sha256/" + strings.TrimPrefix(digest(cfg), "sha256:"), cfg},
		{"blobs/sha256/" + strings.TrimPrefix(digest(manifest), "sha256:"), manifest},
	} {
		if err := add(e.name, e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(archive, out.Bytes(), 0o644)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func layerTar(files []File) ([]byte, error) {
	dirs := map[string]bool{}
	var entries []File
	for _, f := range files {
		for d := path.Dir(f.Path); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			entries = append(entries, File{Path: d, Dir: true})
		}
		if f.Dir {
			dirs[f.Path] = true
		}
		entries = append(entries, f)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range entries {
		name := strings.TrimPrefix(f.Path, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		h := &tar.Header{Name: name, Mode: f.Mode, ModTime: time.Unix(0, 0)}
		var data []byte
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
			h.Mode = 0o777
		case f.Src != "":
			b, err := os.ReadFile(f.Src)
			if err != nil {
				return nil, err
			}
			data = b
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		default:
			data = f.Data
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if !f.Dir && f.Link == "" {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.Path, err)
		}
		if len(data) > 0 {
			if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
