# Debian packages (docs/deployment.md#web-hosts-certfetch): `cpack -G DEB` in
# the build folder writes renewer_VERSION_ARCH.deb and
# certfetch_VERSION_ARCH.deb. certfetch has no ACME code and its own package
# so a web host installs it without renewer or a compiler. Depends is
# computed by dpkg-shlibdeps from the libraries each binary loads; the
# version is project(VERSION). The units are shipped disabled, as
# dh_installsystemd --no-enable --no-start would leave them: each needs its
# settings file first (deploy/systemd/*.service), so the package has no
# maintainer scripts and the operator reloads and enables the units
# (docs/deployment.md, web hosts).
include(GNUInstallDirs)

# The units as packaged: the binaries live in /usr/bin, not /usr/local/bin
# (Debian Policy §9.1.2: packages never install into /usr/local).
set(_pkg_units "${PROJECT_BINARY_DIR}/packaging/systemd")
foreach(_unit certfetch.service certfetch.timer renewer.service renewer.timer)
  file(READ "${PROJECT_SOURCE_DIR}/deploy/systemd/${_unit}" _text)
  string(REPLACE "/usr/local/bin/" "/usr/bin/" _text "${_text}")
  file(WRITE "${_pkg_units}/${_unit}" "${_text}")
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${PROJECT_SOURCE_DIR}/deploy/systemd/certfetch.service" "${PROJECT_SOURCE_DIR}/deploy/systemd/certfetch.timer"
             "${PROJECT_SOURCE_DIR}/deploy/systemd/renewer.service" "${PROJECT_SOURCE_DIR}/deploy/systemd/renewer.timer")

# Debian Policy §12.7 and §12.5: each package's doc folder holds its
# changelog (gzip -9n, so the package is reproducible) and copyright.
find_program(GZIP_PROGRAM gzip)
foreach(_pkg renewer certfetch)
  set(_doc "${PROJECT_BINARY_DIR}/packaging/doc/${_pkg}")
  configure_file("${CMAKE_CURRENT_LIST_DIR}/changelog.in" "${_doc}/changelog" @ONLY)
  if(GZIP_PROGRAM)
    execute_process(COMMAND ${GZIP_PROGRAM} -9nf "${_doc}/changelog")
  endif()
  install(FILES "${_doc}/changelog.gz" "${CMAKE_CURRENT_LIST_DIR}/copyright"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${_pkg} COMPONENT ${_pkg} EXCLUDE_FROM_ALL)
  install(FILES "${CMAKE_CURRENT_LIST_DIR}/${_pkg}.lintian-overrides"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ${_pkg} COMPONENT ${_pkg} EXCLUDE_FROM_ALL)
endforeach()

install(FILES "${_pkg_units}/certfetch.service" "${_pkg_units}/certfetch.timer"
        DESTINATION /lib/systemd/system COMPONENT certfetch EXCLUDE_FROM_ALL)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/nginx/certfetch-snippet.conf"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/certfetch/examples COMPONENT certfetch EXCLUDE_FROM_ALL)
install(FILES "${_pkg_units}/renewer.service" "${_pkg_units}/renewer.timer"
        DESTINATION /lib/systemd/system COMPONENT renewer EXCLUDE_FROM_ALL)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/cron/renewer.cron"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/renewer/examples COMPONENT renewer EXCLUDE_FROM_ALL)

# cpack packages the binaries already built (cmake --build --target renewer
# certfetch): its preinstall step would otherwise build every test first.
# `cmake --install` never builds anyway.
if(NOT DEFINED CMAKE_SKIP_INSTALL_ALL_DEPENDENCY)
  set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME renewer)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "renewer maintainers <maintainers@users.noreply.h-seed-1c6f1a0a.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL renewer certfetch)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# 0755 folders whatever the umask of the one building (lintian non-standard-dir-perm).
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                                WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_RENEWER_PACKAGE_NAME renewer)
set(CPACK_DEBIAN_CERTFETCH_PACKAGE_NAME certfetch)
set(CPACK_DEBIAN_RENEWER_DESCRIPTION
    "ACME client that renews certificates into AWS Secrets Manager
renewer obtains and renews certificates with the ACME protocol (RFC 8555)
and DNS-01 challenges (Route 53, RFC 2136 or a hook), keeps them in AWS
Secrets Manager or a directory, and triggers the replacement of the web
tier. The systemd timer and the cron example are shipped disabled.")
set(CPACK_DEBIAN_CERTFETCH_DESCRIPTION
    "fetches a TLS certificate from AWS Secrets Manager for nginx
certfetch reads the certificate bundle renewer keeps in AWS Secrets Manager
(or a directory), verifies it, writes fullchain.pem, privkey.pem and
chain.pem atomically and reloads nginx when they changed. The systemd
service and timer are shipped disabled; an nginx server block is in the
examples folder.")
set(CPACK_DEBIAN_CERTFETCH_PACKAGE_SUGGESTS nginx)

include(CPack)
