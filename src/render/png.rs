//! SVG to PNG: every image renderer writes SVG, and `--output png` rasterizes it with resvg
//! (tiny-skia underneath). Text is drawn in a system font found by fontdb: DejaVu Sans
//! (Debian's `fonts-dejavu-core`, installed by scripts/setup.sh), else Liberation Sans, else
//! whatever the system has; without any font the shapes still draw and the text is left out.

use std::sync::{Arc, OnceLock};

use resvg::usvg::fontdb::{Database, Source};
use resvg::{tiny_skia, usvg};

use crate::error::{Error, Result};

/// Font families the images ask for, in order of preference.
const FAMILIES: [&str; 2] = ["DejaVu Sans", "Liberation Sans"];

/// The fonts, found once per process: the faces of the first of [`FAMILIES`] installed,
/// read into memory (shaping each text from a file re-opened per call costs ~1 ms a label:
/// 2 s for a 500-span waterfall, against 60 ms from memory); all system fonts as they are
/// when none of those is installed.
fn fonts() -> Arc<Database> {
    static FONTS: OnceLock<Arc<Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut system = Database::new();
            system.load_system_fonts();
            for family in FAMILIES {
                let mut db = Database::new();
                for face in system.faces() {
                    let Source::File(path) = &face.source else {
                        continue;
                    };
                    if face.families.iter().any(|(f, _)| f == family) {
                        if let Ok(data) = std::fs::read(path) {
                            db.load_font_data(data);
                        }
                    }
                }
                if !db.is_empty() {
                    db.set_sans_serif_family(family);
                    return Arc::new(db);
                }
            }
            Arc::new(system)
        })
        .clone()
}

/// Rasterizes `svg` at its own size (1 SVG unit = 1 pixel) to PNG bytes.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>> {
    let opt = usvg::Options {
        fontdb: fonts(),
        font_family: "DejaVu Sans".into(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt)
        .map_err(|e| Error::Internal(format!("the SVG we drew does not parse: {e}")))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
        Error::invalid(format!(
            "a {}x{} image is too large to rasterize; draw fewer rows",
            size.width(),
            size.height()
        ))
    })?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| Error::Internal(format!("PNG encoding failed: {e}")))
}

/// Decodes PNG bytes (for tests and checks): width, height and RGBA pixels.
pub fn decode_png(png: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let p = tiny_skia::Pixmap::decode_png(png)
        .map_err(|e| Error::invalid(format!("not a PNG: {e}")))?;
    Ok((p.width(), p.height(), p.data().to_vec()))
}

/// Parses an SVG document as XML (for tests and checks): the root element's name.
pub fn parse_svg(svg: &str) -> Result<String> {
    let doc = usvg::roxmltree::Document::parse(svg)
        .map_err(|e| Error::invalid(format!("not XML: {e}")))?;
    Ok(doc.root_element().tag_name().name().to_owned())
}
