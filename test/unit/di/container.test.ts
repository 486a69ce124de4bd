import assert from 'node:assert/strict';
import sinon from 'sinon';
import { RunvError } from '../../../src/core/errors';
import { Hypervisor } from '../../../src/core/ports';
import { createContainer } from '../../../src/di/container';
import { HostChecks } from '../../../src/doctor/host-checks';
import { LibvirtHypervisor } from '../../../src/hypervisor/libvirt-hypervisor';
import { ImageBuilder } from '../../../src/image/image-builder';
import { ImageStore } from '../../../src/image/image-store';
import { RunService } from '../../../src/runtime/run-service';
import { defaultRuntimeConfig } from '../../../src/runtime/runtime-config';
import { SandboxLauncher } from '../../../src/runtime/sandbox-launcher';

describe('service container', () => {
  const config = defaultRuntimeConfig({ imagesDir: '/nonexistent/images' });

  it('resolves every service, with libvirt behind the Hypervisor port, as singletons', () => {
    const services = createContainer(config);
    for (const service of [RunService, SandboxLauncher, HostChecks, ImageBuilder, ImageStore]) {
      assert.ok(services.get(service) instanceof service, service.name);
      assert.equal(services.get(service), services.get(service), `${service.name} is a singleton`);
    }
    assert.ok(services.get(Hypervisor) instanceof LibvirtHypervisor);
  });

  it('lets a test rebind the hypervisor: the services then use the fake', async () => {
    const services = createContainer(config);
    const fake: Hypervisor = { createTransient: sinon.stub(), stateOf: sinon.stub().rejects(new RunvError('unavailable', 'cannot connect to libvirt')), destroy: sinon.stub(), ownerOf: sinon.stub(), listOwned: sinon.stub(), suspend: sinon.stub(), resume: sinon.stub(), stats: sinon.stub(), close: sinon.stub() };
    services.rebind<Hypervisor>(Hypervisor).toConstantValue(fake);
    const checks = await services.get(HostChecks).run();
    const libvirtd = checks.find((c) => c.name === 'libvirtd')!;
    assert.equal(libvirtd.ok, false);
    assert.match(libvirtd.fix!, /libvirtd -d/);
    sinon.assert.calledOnce(fake.stateOf as sinon.SinonStub);
  });

  it('reports a missing guest image in doctor with the command that builds one', async () => {
    const services = createContainer(config);
    services.rebind<Hypervisor>(Hypervisor).toConstantValue({ createTransient: sinon.stub(), stateOf: sinon.stub().resolves(undefined), destroy: sinon.stub(), ownerOf: sinon.stub(), listOwned: sinon.stub(), suspend: sinon.stub(), resume: sinon.stub(), stats: sinon.stub(), close: sinon.stub() });
    const image = (await services.get(HostChecks).run()).find((c) => c.name === 'guest image')!;
    assert.deepEqual([image.ok, image.fix], [false, 'runv image build']);
  });
});
