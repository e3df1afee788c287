; Inno Setup 6 script: installs the PyInstaller folder of streamvox on Windows.
; NOT BUILT OR TESTED: this project's machines run Linux only (see
; packaging/README.md for the steps and what is unverified).
;
; Build, from the repository root on Windows (PowerShell):
;   py -3.11 -m venv .venv
;   .venv\Scripts\pip install -c constraints.txt -e ".[package]"
;   $env:STREAMVOX_OPUS_LIB = "C:\path\to\opus.dll"     # for the Opus reference chain
;   .venv\Scripts\pyinstaller --noconfirm --distpath build\pyinstaller\dist `
;       --workpath build\pyinstaller\work packaging\pyinstaller\streamvox.spec
;   build\pyinstaller\dist\streamvox\streamvox.exe self-test
;   iscc packaging\windows\streamvox.iss        ; -> build\windows\streamvox-0.1.0-setup.exe

#define AppName "streamvox"
#define AppVersion "0.1.0"
#define DistDir "..\..\build\pyinstaller\dist\streamvox"

[Setup]
AppId={{6F1E4C1A-6C55-4B55-9E0B-5D2B8E6A7C31}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=streamvox developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user or all-users install, the person chooses; PATH follows that choice.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\build\windows
OutputBaseFilename={#AppName}-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes
UninstallDisplayIcon={app}\streamvox-gui.exe

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the streamvox command to PATH"; GroupDescription: "Command line:"

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
; The windowed twin: no console window behind the GUI.
Name: "{group}\{#AppName}"; Filename: "{app}\streamvox-gui.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\streamvox-gui.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\streamvox-gui.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
const
  EnvKeyUser = 'Environment';
  EnvKeyMachine = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';

function EnvRoot: Integer;
begin
  if IsAdminInstallMode then Result := HKEY_LOCAL_MACHINE else Result := HKEY_CURRENT_USER;
end;

function EnvKey: String;
begin
  if IsAdminInstallMode then Result := EnvKeyMachine else Result := EnvKeyUser;
end;

{ Add or remove the install folder in PATH, as one ';'-separated entry. }
procedure EditPath(Add: Boolean);
var
  Path, Dir: String;
  P: Integer;
begin
  if not RegQueryStringValue(EnvRoot, EnvKey, 'Path', Path) then Path := '';
  Dir := ExpandConstant('{app}');
  P := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';');
  if Add and (P = 0) then begin
    if (Path <> '') and (Path[Length(Path)] <> ';') then Path := Path + ';';
    RegWriteExpandStringValue(EnvRoot, EnvKey, 'Path', Path + Dir);
  end else if (not Add) and (P > 0) then begin
    Delete(Path, P, Length(Dir) + 1);
    if (Length(Path) > 0) and (Path[Length(Path)] = ';') then Delete(Path, Length(Path), 1);
    RegWriteExpandStringValue(EnvRoot, EnvKey, 'Path', Path);
  end;
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if (CurStep = ssPostInstall) and WizardIsTaskSelected('addtopath') then EditPath(True);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then EditPath(False);
end;
