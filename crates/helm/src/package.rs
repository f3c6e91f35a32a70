//! The chart archive `helm package` writes (`chartutil.Save`): every file below a top
//! directory named after the chart, `Chart.yaml` (and `Chart.lock`) re-written from what was
//! loaded, `values.yaml` and `values.schema.json` as written, then templates, other files and
//! each subchart as a directory under `charts/`.
//!
//! Unlike Helm, entries carry a fixed modification time, so the same chart packs to the
//! same bytes and digest.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::chart::Chart;
use crate::metadata::MetadataError;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("chart validation: {0}")]
    Invalid(#[from] MetadataError),
    #[error("Invalid JSON in values.schema.json")]
    Schema,
    #[error("writing the chart archive: {0}")]
    Io(#[from] std::io::Error),
}

/// The archive's file name: `<name>-<version>.tgz`.
pub fn file_name(chart: &Chart) -> String {
    format!("{}-{}.tgz", chart.metadata.name, chart.metadata.version)
}

/// `chart` packed as a gzipped tar.
pub fn package(chart: &Chart) -> Result<Vec<u8>, PackageError> {
    let mut checked = chart.metadata.clone();
    checked.validate()?;
    let encoder = GzEncoder::new(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    write_chart(&mut builder, chart, "")?;
    Ok(builder.into_inner()?.finish()?)
}

fn write_chart<W: Write>(
    builder: &mut tar::Builder<W>,
    chart: &Chart,
    prefix: &str,
) -> Result<(), PackageError> {
    let base = format!("{prefix}{}", chart.metadata.name);
    let mut put = |name: &str, data: &[u8]| append(builder, &format!("{base}/{name}"), data);
    put("Chart.yaml", chart.metadata.to_yaml().as_bytes())?;
    if chart.metadata.api_version != "v1"
        && let Some(lock) = &chart.lock
    {
        put("Chart.lock", crate::yaml::to_yaml(lock).as_bytes())?;
    }
    if let Some(values) = &chart.values {
        put("values.yaml", values)?;
    }
    if let Some(schema) = &chart.schema {
        if serde_json::from_slice::<serde_json::Value>(schema).is_err() {
            return Err(PackageError::Schema);
        }
        put("values.schema.json", schema)?;
    }
    for file in chart.templates.iter().chain(&chart.files) {
        put(&file.name, &file.data)?;
    }
    for dependency in &chart.dependencies {
        write_chart(builder, dependency, &format!("{base}/charts/"))?;
    }
    Ok(())
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
) -> Result<(), PackageError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::ChartFile;

    fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(name, data)| (name.to_string(), data.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn packs_what_the_loader_reads_back() {
        let chart = Chart::load_dir(files(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: 1.10\n",
            ),
            ("values.yaml", "# kept as written\nreplicas: 1\n"),
            (".helmignore", "*.bak\nsecret/\n"),
            ("templates/deploy.yaml", "kind: Deployment\n"),
            ("templates/.hidden", "dropped by Helm's default rule\n"),
            ("notes.bak", "ignored\n"),
            ("secret/key", "ignored\n"),
            ("files/config.txt", "kept\n"),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 0.1.0\n",
            ),
            ("charts/db/templates/svc.yaml", "kind: Service\n"),
        ]))
        .unwrap();
        // go-yaml v2 reads 1.10 as a float, written back as Helm does.
        assert_eq!(chart.metadata.app_version, "1.1");
        assert_eq!(file_name(&chart), "app-1.2.3.tgz");
        let names = |c: &Chart| {
            c.templates
                .iter()
                .chain(&c.files)
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&chart),
            ["templates/deploy.yaml", ".helmignore", "files/config.txt"]
        );
        assert_eq!(chart.dependencies.len(), 1);

        let packed = package(&chart).unwrap();
        let again = Chart::load_archive(&packed).unwrap();
        assert_eq!(again.metadata, chart.metadata);
        assert_eq!(again.values, chart.values);
        assert_eq!(names(&again), names(&chart));
        assert_eq!(
            again.dependencies[0].templates,
            chart.dependencies[0].templates
        );
        // Deterministic bytes.
        assert_eq!(package(&chart).unwrap(), packed);
    }

    #[test]
    fn subchart_archives_become_directories() {
        let sub = Chart::load_dir(files(&[
            ("Chart.yaml", "apiVersion: v2\nname: db\nversion: 0.1.0\n"),
            ("templates/a.yaml", "a: 1\n"),
        ]))
        .unwrap();
        let mut parent = Chart::load_dir(files(&[(
            "Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\n",
        )]))
        .unwrap();
        parent.files.push(ChartFile {
            name: "README.md".into(),
            data: b"hi\n".to_vec(),
        });
        let mut with_archive = vec![(
            "Chart.yaml".to_owned(),
            parent.metadata.to_yaml().into_bytes(),
        )];
        with_archive.push(("charts/db-0.1.0.tgz".into(), package(&sub).unwrap()));
        let loaded = Chart::load_dir(with_archive).unwrap();
        assert_eq!(loaded.dependencies[0].name(), "db");
        let reloaded = Chart::load_archive(&package(&loaded).unwrap()).unwrap();
        assert_eq!(
            reloaded.dependencies[0].templates[0].name,
            "templates/a.yaml"
        );
    }

    #[test]
    fn broken_charts_are_refused_as_helm_refuses_them() {
        let load = |list: &[(&str, &str)]| Chart::load_dir(files(list)).map_err(|e| e.to_string());
        assert_eq!(
            load(&[("values.yaml", "a: 1\n")]).unwrap_err(),
            "Chart.yaml file is missing"
        );
        assert!(
            load(&[
                ("Chart.yaml", "apiVersion: v2\nname: a\nversion: 1.0.0\n"),
                ("values.yaml", "a: [\n")
            ])
            .unwrap_err()
            .starts_with("cannot load values.yaml: ")
        );
        assert_eq!(
            load(&[
                ("Chart.yaml", "apiVersion: v2\nname: a\nversion: 1.0.0\n"),
                ("charts/stray.txt", "x")
            ])
            .unwrap_err(),
            "error unpacking subchart stray.txt in a: Chart.yaml file is missing"
        );
        assert_eq!(
            load(&[("Chart.yaml", "name: a\n")]).unwrap_err(),
            "validation: chart.metadata.version is required"
        );
        assert!(Chart::load_archive(b"not gzip").is_err());
    }

    #[test]
    fn archives_cannot_climb_out() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        let data = b"apiVersion: v2\nname: a\nversion: 1.0.0\n";
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        // `append_data` refuses `..`, so the name is written into the header directly.
        header.as_old_mut().name[..17].copy_from_slice(b"a/../../evil.yaml");
        header.set_cksum();
        builder.append(&header, &data[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar).unwrap();
        let err = Chart::load_archive(&gz.finish().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chart illegally references parent directory"
        );
    }
}
