# Runs at install time (cmake --install, cpack) from cron/CMakeLists.txt, which sets
# spec_hygiene_cron_source and the install folders relative to the prefix. Renders each file
# straight into its destination (no shared scratch file, so concurrent installs do not race)
# and lists it in the install manifest.

function(spec_hygiene_full_path out folder)
  if(IS_ABSOLUTE "${folder}")
    set(${out} "${folder}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${folder}" PARENT_SCOPE)
  endif()
endfunction()

spec_hygiene_full_path(BINDIR "${spec_hygiene_bindir}")
spec_hygiene_full_path(PKGLIBEXECDIR "${spec_hygiene_pkglibexecdir}")
spec_hygiene_full_path(DOCDIR "${spec_hygiene_docdir}")
spec_hygiene_full_path(unitdir "${spec_hygiene_unitdir}")
spec_hygiene_full_path(userunitdir "${spec_hygiene_userunitdir}")

# spec_hygiene_render(<source> <folder> <name> <permissions...>)
function(spec_hygiene_render source folder name)
  set(destination "$ENV{DESTDIR}${folder}/${name}")
  message(STATUS "Installing: ${destination}")
  configure_file("${spec_hygiene_cron_source}/${source}" "${destination}" @ONLY
                 FILE_PERMISSIONS ${ARGN})
  # configure_file may keep an older copy's mode when the content did not change.
  file(CHMOD "${destination}" PERMISSIONS ${ARGN})
  set(CMAKE_INSTALL_MANIFEST_FILES ${CMAKE_INSTALL_MANIFEST_FILES} "${destination}" PARENT_SCOPE)
endfunction()

set(spec_hygiene_read_only OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(spec_hygiene_executable ${spec_hygiene_read_only} OWNER_EXECUTE GROUP_EXECUTE WORLD_EXECUTE)
spec_hygiene_render(spec-hygiene-daily.in "${PKGLIBEXECDIR}" daily ${spec_hygiene_executable})
# The service and the timer twice: for a user's own manager (systemctl --user), and as a
# system template whose instance names the user it runs as. Neither runs as root.
set(UNIT_HEADER "A user unit: systemctl --user enable --now spec-hygiene-daily.timer")
set(UNIT_FOR "")
set(UNIT_USER "# Runs as the user whose service manager starts it.")
set(UNIT_HOME "%h")
spec_hygiene_render(spec-hygiene-daily.service.in "${userunitdir}" spec-hygiene-daily.service
                    ${spec_hygiene_read_only})
spec_hygiene_render(spec-hygiene-daily.timer "${userunitdir}" spec-hygiene-daily.timer
                    ${spec_hygiene_read_only})
set(UNIT_HEADER "A system template: systemctl enable --now spec-hygiene-daily@USER.timer")
set(UNIT_FOR " for %i")
# %h would be root's home in a system unit, whatever User= says.
set(UNIT_USER "User=%i")
set(UNIT_HOME "/home/%i")
spec_hygiene_render(spec-hygiene-daily.service.in "${unitdir}" spec-hygiene-daily@.service
                    ${spec_hygiene_read_only})
spec_hygiene_render(spec-hygiene-daily.timer "${unitdir}" spec-hygiene-daily@.timer
                    ${spec_hygiene_read_only})
spec_hygiene_render(spec-hygiene.cron.in "${DOCDIR}" spec-hygiene.cron ${spec_hygiene_read_only})
