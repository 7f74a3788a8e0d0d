# The Debian package: `cpack -G DEB` (or `cmake --build BUILD --target package`) in the build dir.
# Included at the end of the top-level CMakeLists.txt, after every add_subdirectory(), so the
# binaries' own install() rules (drain-inspector, zdd, zdd-demo-app) are part of the package.
# This file adds what is not a binary: the alias, the default config, the nginx example, docs.

include(GNUInstallDirs)

set(ZDD_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(ZDD_PACKAGING_OUT "${PROJECT_BINARY_DIR}/packaging")
file(MAKE_DIRECTORY "${ZDD_PACKAGING_OUT}")

# `vibe-zero-downtime`: the original script's name, a relative symlink to zdd, which switches to
# the script's defaults when called by that name. A symlink made in the build tree and installed
# as a file keeps working with DESTDIR, `cmake --install --prefix` and CPack alike.
file(CREATE_LINK zdd "${ZDD_PACKAGING_OUT}/vibe-zero-downtime" SYMBOLIC)
install(FILES "${ZDD_PACKAGING_OUT}/vibe-zero-downtime" DESTINATION ${CMAKE_INSTALL_BINDIR})

# Default config: every setting commented out, so built-in defaults and environment variables
# (DRAIN_TIMEOUT, ZDD_*) keep working until the operator uncomments a line. It lives in /etc
# whatever the prefix, and is a conffile: upgrades never overwrite local edits.
install(FILES "${ZDD_PACKAGING_DIR}/zdd.conf" DESTINATION /etc/zdd
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(WRITE "${ZDD_PACKAGING_OUT}/conffiles" "/etc/zdd/zdd.conf\n")

# The nginx site is an example, not live config: installing it into sites-enabled would change
# a running web server on `apt install`. The operator copies it (docs/operator-guide.md).
install(FILES "${ZDD_PACKAGING_DIR}/nginx/zdd-site.conf"
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/nginx)
install(FILES "${ZDD_PACKAGING_DIR}/zdd.conf" DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Bash completion: one script (it reads each tool's --help) under every name it completes, where
# bash-completion loads it on first use.
foreach(cmd zdd vibe-zero-downtime drain-inspector)
  install(FILES "${ZDD_PACKAGING_DIR}/completion/zdd.bash"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ${cmd})
endforeach()

file(GLOB ZDD_DOCS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES "${PROJECT_SOURCE_DIR}/README.md" ${ZDD_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(EXISTS "${PROJECT_SOURCE_DIR}/LICENSE")
  # Debian wants the licence at /usr/share/doc/<package>/copyright.
  install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION ${CMAKE_INSTALL_DOCDIR}
          RENAME copyright)
endif()

# Debian policy wants changelog.Debian.gz in the doc dir (lintian: no-changelog); gzip -n keeps
# the package reproducible (no timestamp in the gzip header).
string(TIMESTAMP ZDD_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${ZDD_PACKAGING_OUT}/changelog.Debian"
     "zdd (${PROJECT_VERSION}-1) unstable; urgency=medium\n\n"
     "  * Package built from the zdd source tree with CPack.\n\n"
     " -- zdd maintainers <zdd@localhost>  ${ZDD_CHANGELOG_DATE}\n")
find_program(ZDD_GZIP gzip)
if(ZDD_GZIP)
  execute_process(COMMAND "${ZDD_GZIP}" -9nf "${ZDD_PACKAGING_OUT}/changelog.Debian")
  install(FILES "${ZDD_PACKAGING_OUT}/changelog.Debian.gz" DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()

# Man pages (man/*.1, written by hand), gzipped at build time as Debian wants them
# (lintian: manpage-not-compressed); vibe-zero-downtime's page is a link to zdd's.
# (gzip is found above: Debian's gzip is essential, so it is always there.)
set(ZDD_MAN_OUT "${PROJECT_BINARY_DIR}/man")
file(MAKE_DIRECTORY "${ZDD_MAN_OUT}")
set(ZDD_MAN_PAGES "")
foreach(page zdd.1 drain-inspector.1 zdd-demo-app.1)
  add_custom_command(OUTPUT "${ZDD_MAN_OUT}/${page}.gz"
    COMMAND "${ZDD_GZIP}" -9nc "${PROJECT_SOURCE_DIR}/man/${page}" > "${ZDD_MAN_OUT}/${page}.gz"
    DEPENDS "${PROJECT_SOURCE_DIR}/man/${page}"
    VERBATIM)
  list(APPEND ZDD_MAN_PAGES "${ZDD_MAN_OUT}/${page}.gz")
endforeach()
add_custom_target(zdd_man_pages ALL DEPENDS ${ZDD_MAN_PAGES})
file(CREATE_LINK zdd.1.gz "${ZDD_MAN_OUT}/vibe-zero-downtime.1.gz" SYMBOLIC)
install(FILES ${ZDD_MAN_PAGES} "${ZDD_MAN_OUT}/vibe-zero-downtime.1.gz"
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "zdd")
set(CPACK_PACKAGE_VENDOR "zdd")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# A Debian revision, as lintian wants for a non-native package.
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_PACKAGE_CONTACT "zdd maintainers <zdd@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME "zdd")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "zero-downtime blue/green deploys behind nginx, drained by eBPF")
# The synopsis comes from the summary; CPack indents these lines and turns the empty one into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "zdd starts a new build of a service on the alternate port, health-checks it,
shifts nginx to it and stops the old instance only when every connection it
carries has finished, long SSE and WebSocket streams included. eBPF programs
count and classify the TCP connections of each port (active, idle, stuck) so
the drain ends the moment the last one closes.

The package holds zdd (also installed as vibe-zero-downtime, with the
original script's defaults), drain-inspector (snapshot, wait, watch and
Prometheus metrics for any port, usable as a Kubernetes preStop hook) and
zdd-demo-app, the reference service.")
# dpkg-shlibdeps finds the library packages the binaries link (libbpf1, libcurl4, libspdlog,
# libfmt, libelf1, libstdc++6, ...); the list below is appended to what it finds.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nginx | nginx-light, curl")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus-node-exporter")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${ZDD_PACKAGING_OUT}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
