# The Debian package: `cpack --config CPackConfig.cmake` in the build folder writes
# spec-hygiene_<version>_<arch>.deb. Its Depends come from dpkg-shlibdeps (dpkg-dev).

set(spec_hygiene_maintainer "spec-hygiene maintainers <maintainers@spec-hygiene.invalid>")

# A native package's changelog, compressed as Debian ships it (no name or time stamp inside).
# changelog.in gets a new entry, with its date, for each release.
configure_file(${CMAKE_CURRENT_LIST_DIR}/changelog.in ${PROJECT_BINARY_DIR}/packaging/changelog
               @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.gz
  COMMAND gzip -9 -n -f -k ${PROJECT_BINARY_DIR}/packaging/changelog
  DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog
  COMMENT "Compressing the package changelog"
  VERBATIM)
add_custom_target(package-changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/copyright ${PROJECT_BINARY_DIR}/packaging/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# A false positive of lintian's scan of machine code, with the reason in the file.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME spec-hygiene)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME spec-hygiene)
set(CPACK_PACKAGE_CONTACT "${spec_hygiene_maintainer}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "keep a multi-agent workflow's SQLite database and evidence healthy")
# The extended description; the summary above is its first line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "A workflow that runs several AI agent command-line tools for each stage of a
spec records every run in a SQLite database and writes JSON evidence files.
These small tools start a batch of agents concurrently and record it
(spawn-agents), keep the database compact and sound (db-vacuum), enforce a
retention policy on the evidence (evidence-prune) and report spawn statistics
as tables or Prometheus text (metrics-report).
.
The package ships systemd units (a user timer, and a system timer template
that runs as the user it names) and a crontab for the daily job; none is
enabled on installation.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "sqlite3, prometheus-node-exporter")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_STRIP_FILES ON)
# postinst and postrm reload systemd; prerm and postrm stop and disable the daily job's timers
# on removal (packaging/debian/).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Installed with DESTDIR, so that the prefix seen at install time (which the units and the
# crontab name the binaries by) is the package's own, /usr, not the staging folder.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
include(CPack)
